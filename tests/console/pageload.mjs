// pageload.mjs — how long the Topics page takes to show a broker's N
// topics, measured in the browser (bench/broker/console.py): from the
// navigation's start (the Performance API's time origin) to the moment the
// table shows its first page (min(N, 100) rows, the page's size) and says
// it is one of N ("1–100 of 1,000 topics"), which a MutationObserver
// installed before the page's scripts notes (performance.now()). Each load is a fresh page in a fresh context (no
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
    ([rows, range, n]) => {
      window.__ndTableAt = null;
      const total = new Intl.NumberFormat("en-US").format(n);
      const shown = () => {
        if (document.querySelectorAll(rows).length < Math.min(n, 100)) return false;
        if (n <= 100) return true;
        const r = document.querySelector(range);
        return !!r && r.textContent.endsWith("of " + total + " topics");
      };
      const mo = new MutationObserver(() => {
        if (window.__ndTableAt === null && shown()) {
          window.__ndTableAt = performance.now();
          mo.disconnect();
        }
      });
      mo.observe(document, { childList: true, subtree: true });
    },
    [SEL.topicRows, SEL.topicsRange, n],
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
