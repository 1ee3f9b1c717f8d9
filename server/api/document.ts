/**
 * The shape of the OpenAPI 3.1 document (built by openapi.ts). On its own, so that what only
 * needs the type (the services handlers get, the app) does not import the builder, which
 * imports the route definitions, which import the services.
 */

/** The HTTP methods the API uses. */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, Partial<Record<HttpMethod, Record<string, unknown>>>>;
  /** Required by the validator's 3.1 typing; this API has none. */
  webhooks: Record<string, never>;
  components: Record<string, Record<string, unknown>>;
}
