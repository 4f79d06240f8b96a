// Overview: the broker's facts, and rates and fsync latency over the
// last 15 minutes (/api/history, refreshed every 5 s).
import { useEffect } from "preact/hooks";
import { api } from "../api";
import { Chart, fmtBytes, fmtDuration, fmtMs, fmtNum, fmtRate, fmtTime, Loading, useLoad } from "../ui";

export function Overview() {
  useEffect(() => {
    document.title = "Overview · nodata";
  }, []);
  const ov = useLoad(() => api("GET", "/api/overview"), [], 5000);
  const hist = useLoad(() => api("GET", "/api/history"), [], 5000);
  const o = ov.data;
  const samples: any[] = hist.data?.samples || [];
  const pick = (k: string) => samples.map((s) => [s.t_ms, s[k] ?? null] as [number, number | null]);
  const rate = (v: number) => fmtRate(v).replace("/s", "");
  return (
    <>
      <h1>Overview</h1>
      <Loading what={ov} />
      {o && (
        <dl class="facts" data-testid="overview-facts">
          <div><dt>Version</dt><dd data-testid="ov-version">{o.version}</dd></div>
          <div><dt>Uptime</dt><dd data-testid="ov-uptime">{fmtDuration(o.uptime_s * 1000)}</dd></div>
          <div><dt>Started</dt><dd>{fmtTime(o.started_ms)}</dd></div>
          <div class="wide"><dt>{o.kafka?.remote ? "Broker (remote)" : "Kafka listener"}</dt><dd><code data-testid="ov-kafka">{o.kafka?.address}</code>{o.kafka?.listener ? ` (${o.kafka.listener})` : ""}</dd></div>
          {!o.kafka?.remote && (
            <>
              <div class="wide"><dt>Data directory</dt><dd><code data-testid="ov-data-dir">{o.data_dir}</code></dd></div>
              <div><dt>Disk used</dt><dd data-testid="ov-disk-used">{fmtBytes(o.disk?.used_bytes)}</dd></div>
              <div><dt>Disk free</dt><dd data-testid="ov-disk-free">{fmtBytes(o.disk?.free_bytes)} of {fmtBytes(o.disk?.total_bytes)}</dd></div>
            </>
          )}
          <div><dt>Topics</dt><dd data-testid="ov-topics">{fmtNum(o.topics)}</dd></div>
          <div><dt>Partitions</dt><dd data-testid="ov-partitions">{fmtNum(o.partitions)}</dd></div>
          <div><dt>Consumer groups</dt><dd data-testid="ov-groups">{fmtNum(o.groups)}</dd></div>
          <div><dt>Connections</dt><dd data-testid="ov-connections">{fmtNum(o.connections)}</dd></div>
          <div><dt>Produce</dt><dd data-testid="ov-produce-rate">{fmtRate(o.rates?.produce_records_s)} records, {fmtBytes(o.rates?.produce_bytes_s)}/s</dd></div>
          <div><dt>Fetch</dt><dd data-testid="ov-fetch-rate">{fmtRate(o.rates?.fetch_records_s)} records, {fmtBytes(o.rates?.fetch_bytes_s)}/s</dd></div>
          <div><dt>fsync p50</dt><dd data-testid="ov-fsync-p50">{fmtMs(o.fsync?.p50_ms)}</dd></div>
          <div><dt>fsync p99</dt><dd data-testid="ov-fsync-p99">{fmtMs(o.fsync?.p99_ms)}</dd></div>
        </dl>
      )}
      <h2>Last 15 minutes</h2>
      <Loading what={hist} />
      <div class="charts">
        <Chart
          title="Records per second"
          testid="chart-records"
          unit={rate}
          series={[
            { name: "produce", cls: "s1", points: pick("produce_records_s") },
            { name: "fetch", cls: "s2", points: pick("fetch_records_s") },
          ]}
        />
        <Chart
          title="Bytes per second"
          testid="chart-bytes"
          unit={(v) => fmtBytes(Math.round(v))}
          integer
          series={[
            { name: "produce", cls: "s1", points: pick("produce_bytes_s") },
            { name: "fetch", cls: "s2", points: pick("fetch_bytes_s") },
          ]}
        />
        <Chart
          title="fsync latency"
          testid="chart-fsync"
          unit={(v) => +v.toFixed(3) + " ms"}
          series={[
            { name: "p50", cls: "s1", points: pick("fsync_p50_ms") },
            { name: "p99", cls: "s3", points: pick("fsync_p99_ms") },
          ]}
        />
      </div>
    </>
  );
}
