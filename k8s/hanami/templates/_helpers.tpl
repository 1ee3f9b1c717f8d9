{{/* Names, truncated to the 63 characters Kubernetes allows in labels and DNS names. */}}
{{- define "hanami.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hanami.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name with a suffix, kept within 63 characters. Call with (list $ "suffix"). */}}
{{- define "hanami.suffixed" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $base := include "hanami.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base $suffix -}}
{{- end -}}

{{- define "hanami.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "hanami.labels" -}}
helm.sh/chart: {{ include "hanami.chart" . }}
{{ include "hanami.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hanami
{{- end -}}

{{/* Labels that select this release's objects. */}}
{{- define "hanami.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hanami.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selects the server pods of every pool. */}}
{{- define "hanami.serverSelectorLabels" -}}
{{ include "hanami.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Selects the server pods of one pool. Call with (list $ "cpu"|"gpu"). */}}
{{- define "hanami.poolSelectorLabels" -}}
{{ include "hanami.serverSelectorLabels" (index . 0) }}
hanami.io/pool: {{ index . 1 }}
{{- end -}}

{{- define "hanami.mongodbSelectorLabels" -}}
{{ include "hanami.selectorLabels" . }}
app.kubernetes.io/component: mongodb
{{- end -}}

{{- define "hanami.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hanami.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {registry, repository, tag, digest}; call with (list $image $defaultTag). */}}
{{- define "hanami.imageRef" -}}
{{- $image := index . 0 -}}
{{- $tag := default (index . 1) $image.tag -}}
{{- $repo := $image.repository -}}
{{- if $image.registry -}}{{- $repo = printf "%s/%s" $image.registry $image.repository -}}{{- end -}}
{{- if $image.digest -}}
{{- if not (hasPrefix "sha256:" $image.digest) -}}
{{- fail (printf "image digest %q must start with sha256:" $image.digest) -}}
{{- end -}}
{{- printf "%s@%s" $repo $image.digest -}}
{{- else if $tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- else -}}
{{- fail (printf "image %s needs a tag or a digest" $repo) -}}
{{- end -}}
{{- end -}}

{{- define "hanami.image" -}}
{{- include "hanami.imageRef" (list .Values.image .Chart.AppVersion) -}}
{{- end -}}

{{- define "hanami.mongodbImage" -}}
{{- include "hanami.imageRef" (list .Values.mongodb.bundled.image "") -}}
{{- end -}}

{{/* Enabled pools as a list of {name, values}, CPU first. */}}
{{- define "hanami.pools" -}}
{{- $pools := list -}}
{{- if .Values.cpu.enabled -}}{{- $pools = append $pools (dict "name" "cpu" "values" .Values.cpu) -}}{{- end -}}
{{- if .Values.gpu.enabled -}}{{- $pools = append $pools (dict "name" "gpu" "values" .Values.gpu) -}}{{- end -}}
{{- toJson $pools -}}
{{- end -}}

{{- define "hanami.usesMongodb" -}}
{{- if eq .Values.store.type "mongodb" -}}true{{- end -}}
{{- end -}}

{{- define "hanami.bundledMongodb" -}}
{{- if and (eq .Values.store.type "mongodb") (eq .Values.mongodb.source "bundled") -}}true{{- end -}}
{{- end -}}

{{/* Secret with the JWT key and the admin passphrase. */}}
{{- define "hanami.authSecretName" -}}
{{- default (include "hanami.suffixed" (list . "auth")) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Secret with the MongoDB URL the server reads, and the key inside it. */}}
{{- define "hanami.mongodbSecretName" -}}
{{- if eq .Values.mongodb.source "bundled" -}}
{{- default (include "hanami.suffixed" (list . "mongodb")) .Values.mongodb.bundled.auth.existingSecret -}}
{{- else -}}
{{- .Values.mongodb.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "hanami.mongodbUrlKey" -}}
{{- if eq .Values.mongodb.source "bundled" -}}mongodb-url{{- else -}}{{- .Values.mongodb.external.urlKey -}}{{- end -}}
{{- end -}}

{{- define "hanami.mongodbServiceName" -}}
{{- include "hanami.suffixed" (list . "mongodb") -}}
{{- end -}}

{{/* PVC of the embedded store. */}}
{{- define "hanami.dataClaimName" -}}
{{- default (include "hanami.suffixed" (list . "data")) .Values.persistence.existingClaim -}}
{{- end -}}

{{/*
Worker threads for a pool: the explicit value, else the whole CPUs of the CPU limit (or
request), at least 1; empty when neither is set. Call with a pool's values.
*/}}
{{- define "hanami.threads" -}}
{{- if gt (int .threads) 0 -}}
{{- int .threads -}}
{{- else -}}
{{- $cpu := "" -}}
{{- with .resources -}}
{{- if and .limits (hasKey .limits "cpu") -}}{{- $cpu = toString .limits.cpu -}}
{{- else if and .requests (hasKey .requests "cpu") -}}{{- $cpu = toString .requests.cpu -}}
{{- end -}}
{{- end -}}
{{- if $cpu -}}
{{- if hasSuffix "m" $cpu -}}
{{- max 1 (div (int (trimSuffix "m" $cpu)) 1000) -}}
{{- else -}}
{{- max 1 (int (floor (float64 $cpu))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Contradictory values stop the render with a message that says what to do. Rendered once,
from validate.yaml.
*/}}
{{- define "hanami.validate" -}}
{{- $pools := include "hanami.pools" . | fromJsonArray -}}
{{- if eq (len $pools) 0 -}}
{{- fail "nothing to run: enable the CPU pool (cpu.enabled=true), the GPU pool (gpu.enabled=true) or both" -}}
{{- end -}}
{{- if eq .Values.store.type "embedded" -}}
{{- if gt (len $pools) 1 -}}
{{- fail "the embedded store (store.type=embedded) lives on one volume of one pod: a CPU and a GPU pool side by side need store.type=mongodb (mongodb.source=external or bundled)" -}}
{{- end -}}
{{- if eq .Values.updateStrategy "RollingUpdate" -}}
{{- fail "updateStrategy=RollingUpdate would run two servers on the embedded store at once: keep updateStrategy=Recreate or use store.type=mongodb" -}}
{{- end -}}
{{- range $pools -}}
{{- if gt (int .values.replicas) 1 -}}
{{- fail (printf "the embedded store (store.type=embedded) serves exactly one replica, but %s.replicas=%d: set %s.replicas=1 or use store.type=mongodb" .name (int .values.replicas) .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.store.type "mongodb") (eq .Values.mongodb.source "external") (not .Values.mongodb.external.existingSecret) -}}
{{- fail "mongodb.source=external needs mongodb.external.existingSecret: the name of a Secret holding the connection string (key mongodb.external.urlKey). The URL is never taken from plain values." -}}
{{- end -}}
{{- with .Values.socketIO.ownerPool -}}
{{- $owner := . -}}
{{- $pool := index $.Values $owner -}}
{{- if not $pool.enabled -}}
{{- fail (printf "socketIO.ownerPool=%s names a pool that is not enabled (%s.enabled=false)" $owner $owner) -}}
{{- end -}}
{{- if and (gt (int $pool.replicas) 1) (not $.Values.socketIO.stickySessions) -}}
{{- fail (printf "socketIO.ownerPool=%s has %d replicas: turn on socketIO.stickySessions or set %s.replicas=1" $owner (int $pool.replicas) $owner) -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.port) -}}
{{- fail (printf "metrics.port=%d is the API's port: metrics are served on a port of their own (the API's port does not serve them)" (int .Values.metrics.port)) -}}
{{- end -}}
{{- if and (not .Values.socketIO.stickySessions) (gt (len $pools) 0) -}}
{{- $total := 0 -}}
{{- range $pools -}}{{- $total = add $total (int .values.replicas) -}}{{- end -}}
{{- if and (gt (int $total) 1) (not .Values.socketIO.ownerPool) -}}
{{- fail (printf "%d server pods without socketIO.stickySessions would break Socket.IO sessions (a client's requests must reach one pod): turn on socketIO.stickySessions or route direct I/O to one pod with socketIO.ownerPool and replicas 1" (int $total)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
