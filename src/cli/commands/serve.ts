import type { Command } from '../io';
import { UsageError } from '../io';

/** Placeholder until the in-process server lands (foundation issue). */
export const serve: Command = async () => {
  throw new UsageError('serve is not built yet');
};
