export { createLogger, type Logger } from './logger.ts';
export { startProgress, type Progress } from './progress.ts';
export { Random } from './random.ts';
export { writeFileAtomic, writeJsonAtomic } from './files.ts';
export { runMain } from './main.ts';
