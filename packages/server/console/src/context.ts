import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Call } from './api.ts';

export interface Ctx {
  readonly call: Call;
  /** Whether the token carries this admin scope: controls it does not cover are not shown. */
  readonly can: (scope: string) => boolean;
}

export const ConsoleContext = createContext<Ctx>(undefined as unknown as Ctx);
export const useConsole = (): Ctx => useContext(ConsoleContext);
