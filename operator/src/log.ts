// JSON logs (pino) on stdout; the pod's log collector adds time and source.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { component: 'servingstack-operator' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
