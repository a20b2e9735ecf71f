// The benchmark's scaling curve as one SVG file (npm run bench -- --svg FILE): requests per second by
// worker count, lesson 03's line against the ideal one (the single process times the worker count, up
// to the CPU count: past it, more workers only share the same CPUs),
// and every other row: a name measured at several worker counts (lesson 09's reusePort) as a line of
// its own, any other (the single process, the bare cluster, pm2, Bun) as a labelled point.

export interface CurveRow {
  name: string; // 'cluster' is lesson 03's line; 'single' sets the ideal; every row is drawn
  workers: number;
  requestsPerSec: number;
}

const size = { width: 720, height: 420, left: 70, right: 230, top: 48, bottom: 50 };
const colors = ['#57606a', '#cf222e', '#8250df', '#bf8700', '#1a7f37', '#0550ae', '#953800']; // for the points, in turn

export function scalingSvg(rows: CurveRow[], title: string, cpus: number): string {
  const single = rows.find((row) => row.name === 'single');
  const byName = new Map<string, CurveRow[]>(); // Map.groupBy is Node 21+
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  const lines = [...byName].filter(([, named]) => named.length > 1).map(([name, named]) => ({ name, rows: named.sort((a, b) => a.workers - b.workers) }));
  const points = rows.filter((row) => byName.get(row.name)!.length === 1);
  const colorOf = new Map([...lines.map((line) => line.name), ...points.map((row) => row.name)].map((name, i) => [name, name === 'cluster' ? '#0969da' : colors[i % colors.length]]));
  const maxWorkers = Math.max(...rows.map((row) => row.workers));
  const idealAt = (workers: number) => ({ workers, rps: single!.requestsPerSec * Math.min(workers, cpus) });
  const ideal = single ? [...new Set([1, Math.min(cpus, maxWorkers), maxWorkers])].map(idealAt) : [];
  const maxRps = niceCeiling(Math.max(...rows.map((row) => row.requestsPerSec), ...ideal.map((point) => point.rps)));
  const x = (workers: number) => size.left + ((workers - (maxWorkers === 1 ? 0 : 1)) / Math.max(1, maxWorkers - 1)) * plotWidth();
  const y = (rps: number) => size.top + plotHeight() * (1 - rps / maxRps);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}" viewBox="0 0 ${size.width} ${size.height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${size.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...axes(rows, maxRps, x, y),
    ideal.length ? `<polyline points="${ideal.map((p) => `${x(p.workers)},${y(p.rps)}`).join(' ')}" fill="none" stroke="#8c959f" stroke-dasharray="5 4"/>` : '',
    ...lines.flatMap((line) => curve(line.rows, colorOf.get(line.name)!, x, y)),
    ...points.map((row) => marker(row, colorOf.get(row.name)!, x, y)),
    ...legend([
      ['#8c959f', `ideal: single × workers (≤ ${cpus})`, true],
      ...lines.map((line): [string, string, boolean] => [colorOf.get(line.name)!, line.name === 'cluster' ? 'lesson 03, by worker count' : `${line.name}, by worker count`, false]),
      ...points.map((row): [string, string, boolean] => [colorOf.get(row.name)!, `${row.name} (${row.workers})`, false]),
    ]),
    '</svg>',
    '',
  ].filter(Boolean).join('\n');
}

function axes(rows: CurveRow[], maxRps: number, x: (w: number) => number, y: (r: number) => number): string[] {
  const bottom = size.top + plotHeight();
  const counts = [...new Set(rows.map((row) => row.workers))].sort((a, b) => a - b);
  const steps = [0, 0.25, 0.5, 0.75, 1].map((share) => share * maxRps);
  return [
    `<line x1="${size.left}" y1="${bottom}" x2="${size.left + plotWidth()}" y2="${bottom}" stroke="#57606a"/>`,
    `<line x1="${size.left}" y1="${size.top}" x2="${size.left}" y2="${bottom}" stroke="#57606a"/>`,
    ...steps.map((rps) => `<text x="${size.left - 8}" y="${y(rps) + 4}" text-anchor="end">${Math.round(rps)}</text><line x1="${size.left}" y1="${y(rps)}" x2="${size.left + plotWidth()}" y2="${y(rps)}" stroke="#eaeef2"/>`),
    ...counts.map((count) => `<text x="${x(count)}" y="${bottom + 18}" text-anchor="middle">${count}</text>`),
    `<text x="${size.left + plotWidth() / 2}" y="${size.height - 10}" text-anchor="middle">workers (processes)</text>`,
    `<text transform="translate(16 ${size.top + plotHeight() / 2}) rotate(-90)" text-anchor="middle">requests per second</text>`,
  ];
}

function curve(rows: CurveRow[], color: string, x: (w: number) => number, y: (r: number) => number): string[] {
  return [
    `<polyline points="${rows.map((row) => `${x(row.workers)},${y(row.requestsPerSec)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    ...rows.map((row) => `<circle cx="${x(row.workers)}" cy="${y(row.requestsPerSec)}" r="4" fill="${color}"><title>${escape(describe(row))}</title></circle>`),
  ];
}

function marker(row: CurveRow, color: string, x: (w: number) => number, y: (r: number) => number): string {
  const [cx, cy] = [x(row.workers), y(row.requestsPerSec)];
  return `<rect x="${cx - 5}" y="${cy - 5}" width="10" height="10" fill="${color}" transform="rotate(45 ${cx} ${cy})"><title>${escape(describe(row))}</title></rect>`;
}

function legend(entries: [color: string, text: string, dashed: boolean][]): string[] {
  const left = size.width - size.right + 16;
  return entries.map(([color, text, dashed], i) => {
    const top = size.top + 8 + i * 20;
    const dash = dashed ? ' stroke-dasharray="5 4"' : '';
    return `<line x1="${left}" y1="${top}" x2="${left + 22}" y2="${top}" stroke="${color}" stroke-width="2"${dash}/><text x="${left + 28}" y="${top + 4}">${escape(text)}</text>`;
  });
}

function describe(row: CurveRow): string {
  return `${row.name}, ${row.workers} worker${row.workers === 1 ? '' : 's'}: ${row.requestsPerSec.toFixed(1)} req/s`;
}

// The axis's top: a round figure at or above the largest one.
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((step) => step * power).find((top) => top >= value)!;
}

function plotWidth(): number {
  return size.width - size.left - size.right;
}

function plotHeight(): number {
  return size.height - size.top - size.bottom;
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
