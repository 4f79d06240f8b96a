// Transactions (the coordinator's) and the producers of a topic.
import { useEffect, useState } from "preact/hooks";
import { api, type Topic } from "../api";
import { Field, fmtDuration, fmtTime, Loading, useLoad } from "../ui";
import { Producers } from "./topics";

export function Transactions() {
  useEffect(() => {
    document.title = "Transactions · nodata";
  }, []);
  const tx = useLoad(() => api("GET", "/api/transactions"), [], 5000);
  const topics = useLoad(() => api<{ topics: Topic[] }>("GET", "/api/topics"), []);
  const [topic, setTopic] = useState("");
  const list: any[] = tx.data?.transactions || [];
  const names = (topics.data?.topics || []).map((t) => t.name);
  const shown = topic || names[0] || "";
  return (
    <>
      <h1>Transactions and producers</h1>
      <h2>Transactions</h2>
      <Loading what={tx} />
      {tx.data && !list.length && <p class="muted">No transactional ids.</p>}
      {list.length > 0 && (
        <table data-testid="transactions-table">
          <thead>
            <tr>
              <th scope="col">Transactional id</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Producer id</th>
              <th scope="col" class="num">Epoch</th>
              <th scope="col">Timeout</th>
              <th scope="col">Started</th>
              <th scope="col">Partitions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((t) => (
              <tr key={t.transactional_id} data-testid="transaction-row">
                <th scope="row">{t.transactional_id}</th>
                <td>{t.state}</td>
                <td class="num">{t.producer_id}</td>
                <td class="num">{t.producer_epoch}</td>
                <td>{fmtDuration(t.timeout_ms)}</td>
                <td>{fmtTime(t.start_ms)}</td>
                <td>{(t.partitions || []).map((p: any) => p.topic + "-" + p.partition).join(", ") || "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Producers</h2>
      <Loading what={topics} />
      {names.length > 0 && (
        <>
          <Field label="Topic">
            <select value={shown} onChange={(e) => setTopic(e.currentTarget.value)} data-testid="producers-topic">
              {names.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </Field>
          <Producers topic={shown} />
        </>
      )}
    </>
  );
}
