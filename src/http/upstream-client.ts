// Moved to src/proxy/upstream-client.ts (shared by src/actors and src/http without an import cycle);
// kept so code written against the old path still compiles. Import from src/proxy.
export * from '../proxy/upstream-client.ts';
