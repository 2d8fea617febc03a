// Vite bundles CSS imported for its side effects; TypeScript only needs to know such modules exist.
declare module '*.css';
