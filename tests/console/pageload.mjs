// pageload.mjs — how long the Topics page takes to show N topics, measured
// in the browser (bench/broker/console.py): from the navigation's start
// (the Performance API's time origin) to the moment the table has N rows,
// which a MutationObserver installed before the page's scripts notes
// (performance.now()). Each load is a fresh page in a fresh context (no
// cache), the broker already warm.
//
//   node pageload.mjs URL N LOADS
//
// Prints one line per load, "load MS scripts MS api MS-MS" (the table
// shown; DOMContentLoaded; GET /api/topics sent and answered), then
// "median MS max MS".
import { launch } from "./lib.mjs";
import { ROUTES, SEL } from "./selectors.mjs";

const [url, n, loads] = [process.argv[2], +process.argv[3], +process.argv[4]];
const browser = await launch();
const took = [];
for (let i = 0; i < loads; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.addInitScript(
    ([sel, n]) => {
      window.__ndTableAt = null;
      const mo = new MutationObserver(() => {
        if (window.__ndTableAt === null && document.querySelectorAll(sel).length >= n) {
          window.__ndTableAt = performance.now();
          mo.disconnect();
        }
      });
      mo.observe(document, { childList: true, subtree: true });
    },
    [SEL.topicRows, n],
  );
  await page.goto(url + "/" + ROUTES.topics);
  await page.waitForFunction(() => window.__ndTableAt !== null, null, { timeout: 60000 });
  // Where the time went: the scripts ran (DOMContentLoaded), then the
  // API call for the list was sent and answered.
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const api = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/api/topics"));
    return { table: window.__ndTableAt, dcl: nav.domContentLoadedEventEnd, api0: api ? api.startTime : -1, api1: api ? api.responseEnd : -1 };
  });
  took.push(t.table);
  console.log(`load ${t.table.toFixed(1)} scripts ${t.dcl.toFixed(1)} api ${t.api0.toFixed(1)}-${t.api1.toFixed(1)}`);
  await ctx.close();
}
await browser.close();
took.sort((a, b) => a - b);
console.log(`median ${took[Math.floor(took.length / 2)].toFixed(1)} max ${took[took.length - 1].toFixed(1)}`);
