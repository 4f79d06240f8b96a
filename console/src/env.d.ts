// CSS imported for its side effect: Vite bundles it into dist/assets.
declare module "*.css";
