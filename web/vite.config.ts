// Builds the browser UI: web/ → web/dist, served by the Keel server (src/http/ui.ts) behind auth.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // One small bundle: no code splitting for a UI of this size; keeps the asset list flat.
    chunkSizeWarningLimit: 1024,
    sourcemap: false,
  },
});
