import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// `npm run dev` serves the SPA on :5173 and proxies the API to a `tessera serve` on :8080.
// The proxy presents the server's own origin, so the server's origin check passes in development.
const api = process.env['TESSERA_DEV_API'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    // Keep every asset a file: the server's CSP allows only same-origin scripts and styles.
    assetsInlineLimit: 0,
    // The zxcvbn dictionaries (~1.6 MB, ~0.8 MB gzipped) are one lazily loaded chunk each, fetched
    // only by the register and change-password pages.
    chunkSizeWarningLimit: 1600,
    rolldownOptions: {
      output: {
        advancedChunks: {
          groups: [
            { name: 'zxcvbn-en', test: /@zxcvbn-ts[\\/]language-en/ },
            { name: 'zxcvbn-common', test: /@zxcvbn-ts[\\/]language-common/ },
            { name: 'zxcvbn', test: /@zxcvbn-ts[\\/]core/ },
          ],
        },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': {
        target: api,
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => {
            if (req.getHeader('origin')) req.setHeader('origin', api);
          });
        },
      },
      '/.well-known': { target: api },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
