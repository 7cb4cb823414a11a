// The process runtime's public surface: the embedded default runtime, which runs each task's
// program as a supervised child process (see runtime.ts for its behaviour, image.ts for what an
// image means to it, records.ts for its layout on disk).
export { ProcessRuntime } from './runtime.ts';
export type { ProcessRuntimeOptions } from './task.ts';
export { imageScheme } from './image.ts';
