/**
 * The client (`hanami/client`: the generated SDK, socket.io-client) loaded only when a remote
 * command runs. Importing it costs ~30 MB of memory and some start-up time, which the local
 * commands (`hanami train`, `test`, `bench`: the benchmark's peak RSS) should not pay. The
 * remote commands load it in a preAction hook (`registerRemoteCommands`); their code then
 * reaches it synchronously through `client()`.
 */
import type * as ClientExports from '../../../client/index.js';

type ClientModule = typeof ClientExports;

let loaded: ClientModule | undefined;

export async function loadClient(): Promise<ClientModule> {
  loaded ??= await import('../../../client/index.js');
  return loaded;
}

/** The client module; a remote command's preAction hook has loaded it. */
export function client(): ClientModule {
  if (!loaded) throw new Error('the client module is not loaded: remote commands load it before their action runs');
  return loaded;
}

/** The client module if a command loaded it (errors of the client exist only then). */
export function loadedClient(): ClientModule | undefined {
  return loaded;
}
