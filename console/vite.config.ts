// The console's build: `npm run build` writes dist/, which the broker embeds
// (broker/console_assets.cmake). Hashed names under /assets/ are served as
// immutable; index.html is served for / only (the pages route by hash).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // One JS and one CSS file: the broker serves few, small files.
    modulePreload: false,
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
