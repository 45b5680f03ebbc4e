package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ratios sets every measured run's ShoalRatio: shoal's ops/s over the
// run's, against shoal's run of the same mix, clients and read
// consistency (linearizable reads beside linearizable ones, stale beside
// stale, serializable and NATS's direct gets).
func (r *peersReport) ratios() {
	for _, run := range r.Runs {
		run.ShoalRatio = 0
		base := r.shoalRun(run)
		if base == nil || run.Report == nil || run.Report.OpsPerSec == 0 || base.Report.OpsPerSec == 0 {
			continue
		}
		run.ShoalRatio = base.Report.OpsPerSec / run.Report.OpsPerSec
	}
}

// shoalRun is shoal's measured run that run is compared with, nil when
// there is none.
func (r *peersReport) shoalRun(run *peersRun) *peersRun {
	for _, s := range r.Runs {
		if s.Target == "shoal" && s.Mix == run.Mix && s.Clients == run.Clients && s.ReadConsistency == run.ReadConsistency && s.Report != nil {
			return s
		}
	}
	return nil
}

// peersRow is one line of a mix's table and one bar of its charts.
type peersRow struct {
	Clients     int
	Target      string
	System      string
	Writes      string // when a write is acknowledged, in a few words
	Reads       string // the read's name, "" in the write mix
	Consistency string // linearizable or stale, "" in the write mix
	Run         *peersRun
}

// rows are a mix's runs in the tables' order: by clients, linearizable
// reads before stale ones, the targets in their order.
func (r *peersReport) rows(mix string) []peersRow {
	var rows []peersRow
	for _, n := range r.Settings.Clients {
		for _, rc := range []string{"", consistencyLinearizable, consistencyStale} {
			for _, t := range r.Targets {
				for _, run := range r.Runs {
					if run.Target != t.Name || run.Mix != mix || run.Clients != n || run.ReadConsistency != rc {
						continue
					}
					rows = append(rows, peersRow{Clients: n, Target: t.Name, System: t.System, Writes: t.Short,
						Reads: t.ReadNames[rc], Consistency: rc, Run: run})
				}
			}
		}
	}
	return rows
}

// mixTitle is a mix's heading, with the settings its numbers depend on.
func (r *peersReport) mixTitle(mix string) string {
	s := r.Settings
	return fmt.Sprintf("%s mix: %d-byte values, keys drawn from %d, %s measured after %s of warmup",
		mix, s.ValueSize, s.Keys, time.Duration(s.DurationS*float64(time.Second)), time.Duration(s.WarmupS*float64(time.Second)))
}

// ratioText is shoal's ops/s over the row's, or "-".
func ratioText(run *peersRun) string {
	if run.ShoalRatio == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", run.ShoalRatio)
}

// printTables writes a table per mix, the settings beside the numbers.
func (r *peersReport) printTables(w io.Writer) {
	fmt.Fprintf(w, "shoal bench peers: shoal, etcd %s and NATS %s side by side on %d CPUs (%s/%s), %s\n",
		peersEtcdVersion, peersNATSVersion, r.Host.CPUs, r.Host.OS, r.Host.Arch, r.Host.Placement)
	fmt.Fprintf(w, "connections: %s; shoal ÷ this: shoal's ops/s over the row's, at the same clients and read consistency\n", r.Settings.Connections)
	for _, mix := range r.Settings.Mixes {
		rows := r.rows(mix)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n\n", r.mixTitle(mix))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "clients\ttarget\twrites acknowledged\t"
		if mix != mixWrite {
			head += "reads\t"
		}
		fmt.Fprintln(tw, head+"ops/s\tp50 ms\tp99 ms\tp99.9 ms\terrors\tshoal ÷ this")
		for _, row := range rows {
			line := fmt.Sprintf("%d\t%s\t%s\t", row.Clients, row.Target, row.Writes)
			if mix != mixWrite {
				line += row.Reads + "\t"
			}
			if rep := row.Run.Report; rep != nil {
				l := rep.Latency
				line += fmt.Sprintf("%.0f\t%.2f\t%.2f\t%.2f\t%d\t%s", rep.OpsPerSec, l.P50, l.P99, l.P999, rep.Errors, ratioText(row.Run))
			} else {
				// As many cells as the others, or tabwriter would align
				// the rows below on their own.
				line += "failed\t-\t-\t-\t-\t-"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nwrites acknowledged:")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "  %-13s %s\n", t.Name, t.Durability)
	}
	if slices.ContainsFunc(r.Runs, func(run *peersRun) bool { return run.Mix != mixWrite }) {
		r.printReads(w)
	}
	var errs []string
	for _, run := range r.Runs {
		if run.Report == nil {
			errs = append(errs, fmt.Sprintf("  %s: failed: %s", run.name(), truncate(run.Error, 300)))
		}
		if run.Report != nil && run.Report.Errors > 0 {
			for _, e := range run.Report.ErrorsByKind {
				errs = append(errs, fmt.Sprintf("  %s: %d × %s, e.g. %s", run.name(), e.Count, e.Kind, truncate(e.Example, 120)))
			}
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "errors:")
		fmt.Fprintln(w, strings.Join(errs, "\n"))
	}
	fmt.Fprintln(w, "builds:")
	for _, b := range r.Builds {
		switch {
		case b.Error != "":
			fmt.Fprintf(w, "  %s %s: failed after %.1fs: %s\n", b.Name, b.Version, b.Seconds, truncate(b.Error, 200))
		case b.Cached:
			fmt.Fprintf(w, "  %s %s: cached, %s\n", b.Name, b.Version, b.Binary)
		default:
			fmt.Fprintf(w, "  %s %s: built in %.1fs (downloads included), %s\n", b.Name, b.Version, b.Seconds, b.Binary)
		}
	}
	fmt.Fprintf(w, "  the builds side by side: %.1fs of wall time\n", r.BuildsWallS)
	fmt.Fprintln(w, "clusters:")
	for _, t := range r.Targets {
		switch {
		case t.Error != "":
			fmt.Fprintf(w, "  %-13s %s\n", t.Name, truncate(t.Error, 300))
		default:
			fmt.Fprintf(w, "  %-13s ready in %.1fs, the keys written in %.1fs; leader after the runs: %s\n", t.Name, t.StartS, t.PopulateS, orDash(t.Leader))
		}
		for _, p := range t.Profiles {
			fmt.Fprintf(w, "  %-13s CPU profile: %s\n", "", p)
		}
	}
	fmt.Fprintf(w, "wall time: %s\n", time.Duration(r.WallS*float64(time.Second)).Round(time.Second))
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILED: %s\n", truncate(f, 300))
	}
}

// printReads says what each target's reads are.
func (r *peersReport) printReads(w io.Writer) {
	fmt.Fprintln(w, "reads:")
	for _, t := range r.Targets {
		sys := benchSystemNamed(t.System)
		for _, rc := range t.Reads {
			fmt.Fprintf(w, "  %-13s %s: %s\n", t.Name, t.ReadNames[rc], sys.read[rc])
		}
	}
}

// write writes peers.json, peers.txt and peers.html into the output
// directory.
func (r *peersReport) write() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("peers.json: %w", err)
	}
	var txt, page bytes.Buffer
	r.printTables(&txt)
	if err := r.html(&page); err != nil {
		return fmt.Errorf("peers.html: %w", err)
	}
	for name, data := range map[string][]byte{"peers.json": append(b, '\n'), "peers.txt": txt.Bytes(), "peers.html": page.Bytes()} {
		if err := os.WriteFile(filepath.Join(r.Out, name), data, 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	return nil
}

// peersColors are the targets' colours in the charts.
var peersColors = map[string]string{"shoal": "#2b6cb0", "etcd": "#c05621", "nats-always": "#276749", "nats-default": "#68d391"}

// svgBar is one bar of a chart, its geometry worked out beforehand.
type svgBar struct {
	Label      string
	Value      string // the number printed after the bar
	Y, W       float64
	TextY      float64
	Color      string
	GroupLabel string // printed above the bar when a new read consistency starts
	GroupY     float64
}

// svgChart is a horizontal bar chart.
type svgChart struct {
	Title         string
	Width, Height float64
	LabelW        float64 // room for the labels, left of the bars
	Bars          []svgBar
}

// chart draws one bar per row with a measured run, value(run) long.
func chart(title string, rows []peersRow, value func(*benchReport) float64, format string) svgChart {
	const labelW, barsW, barH, gap, groupH = 260.0, 420.0, 16.0, 6.0, 16.0
	c := svgChart{Title: title, Width: labelW + barsW + 90, LabelW: labelW}
	top := 0.0
	for _, row := range rows {
		if row.Run.Report != nil {
			top = max(top, value(row.Run.Report))
		}
	}
	y, group := 4.0, "-"
	for _, row := range rows {
		b := svgBar{Label: row.Target, Color: peersColors[row.Target]}
		if row.Reads != "" {
			b.Label += " · " + row.Reads
		}
		if row.Consistency != group {
			group = row.Consistency
			if group != "" {
				b.GroupLabel, b.GroupY = group+" reads", y+12
				y += groupH
			}
		}
		b.Y, b.TextY = y, y+barH-4
		switch rep := row.Run.Report; {
		case rep == nil:
			b.Value = "failed"
		default:
			v := value(rep)
			if top > 0 {
				b.W = v / top * barsW
			}
			b.Value = fmt.Sprintf(format, v)
		}
		c.Bars = append(c.Bars, b)
		y += barH + gap
	}
	c.Height = y + 4
	return c
}

// peersMixView is a mix's section of the page.
type peersMixView struct {
	Title  string
	Reads  bool
	Rows   []peersRow
	Charts []svgChart
}

// html writes the page: the settings, then per mix a table and bar
// charts (inline SVG; nothing is fetched).
func (r *peersReport) html(w io.Writer) error {
	var mixes []peersMixView
	for _, mix := range r.Settings.Mixes {
		rows := r.rows(mix)
		if len(rows) == 0 {
			continue
		}
		v := peersMixView{Title: r.mixTitle(mix), Reads: mix != mixWrite, Rows: rows}
		for _, n := range r.Settings.Clients {
			var mine []peersRow
			for _, row := range rows {
				if row.Clients == n {
					mine = append(mine, row)
				}
			}
			v.Charts = append(v.Charts,
				chart(fmt.Sprintf("ops/s, %d clients (longer is better)", n), mine, func(b *benchReport) float64 { return b.OpsPerSec }, "%.0f"),
				chart(fmt.Sprintf("p99 latency in ms, %d clients (shorter is better)", n), mine, func(b *benchReport) float64 { return b.Latency.P99 }, "%.2f"))
		}
		mixes = append(mixes, v)
	}
	var text bytes.Buffer
	r.printTables(&text)
	return peersPage.Execute(w, struct {
		R      *peersReport
		Mixes  []peersMixView
		Tables string
	}{r, mixes, text.String()})
}

var peersPage = template.Must(template.New("peers").Funcs(template.FuncMap{
	"ratio":    ratioText,
	"sub":      func(a, b float64) float64 { return a - b },
	"add":      func(a, b float64) float64 { return a + b },
	"readDesc": func(system, consistency string) string { return benchSystemNamed(system).read[consistency] },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shoal bench peers: shoal, etcd and NATS side by side</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1a202c; max-width: 1100px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: 2px 8px; border-bottom: 1px solid #e2e8f0; text-align: right; }
th:nth-child(-n+4), td:nth-child(-n+4) { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1em 2em; }
.chart h3 { font-size: .95em; margin: .3em 0; font-weight: normal; }
.failed { color: #c53030; }
pre { background: #f7fafc; padding: 1em; overflow-x: auto; font-size: 12px; }
dt { font-weight: bold; } dd { margin: 0 0 .5em 1.5em; }
</style>
</head>
<body>
<h1>shoal bench peers: shoal, etcd and NATS JetStream KV side by side</h1>
<p>Started {{.R.Started}}, {{printf "%.0f" .R.WallS}}s of wall time. {{.R.Host.CPUs}} CPUs ({{.R.Host.OS}}/{{.R.Host.Arch}}, {{.R.Host.GoVersion}}); {{.R.Host.Placement}}.
Clients: {{.R.Settings.Connections}}. Each run: {{.R.Settings.WarmupS}}s of warmup, then {{.R.Settings.DurationS}}s measured; {{.R.Settings.ValueSize}}-byte values, keys drawn uniformly from {{.R.Settings.Keys}}.
<b>shoal ÷ this</b> is shoal's ops/s over the row's, at the same concurrency and read consistency: linearizable reads are compared with linearizable ones, and NATS's direct gets with shoal's stale reads and etcd's serializable ones.</p>
{{range .R.Failures}}<p class="failed">FAILED: {{.}}</p>
{{end}}
<h2>The clusters</h2>
<dl>
{{range .R.Targets}}<dt>{{.Name}} ({{.System}} {{.Version}})</dt>
<dd>Writes: {{.Durability}}.<br>Configuration: {{.Config}}.<br>{{$t := .}}{{range .Reads}}Reads, {{index $t.ReadNames .}}: {{readDesc $t.System .}}.<br>{{end}}{{if .Error}}<span class="failed">{{.Error}}</span>{{else}}Ready in {{printf "%.1f" .StartS}}s; leader after the runs: {{if .Leader}}{{.Leader}}{{else}}unknown{{end}}.{{end}}</dd>
{{end}}</dl>
{{range .Mixes}}{{$reads := .Reads}}
<h2>{{.Title}}</h2>
<table>
<tr><th>clients</th><th>target</th><th>writes acknowledged</th>{{if $reads}}<th>reads</th>{{end}}<th>ops/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>shoal ÷ this</th></tr>
{{range .Rows}}<tr><td>{{.Clients}}</td><td>{{.Target}}</td><td>{{.Writes}}</td>{{if $reads}}<td>{{.Reads}}</td>{{end}}{{with .Run.Report}}<td>{{printf "%.0f" .OpsPerSec}}</td><td>{{printf "%.2f" .Latency.P50}}</td><td>{{printf "%.2f" .Latency.P99}}</td><td>{{printf "%.2f" .Latency.P999}}</td><td>{{.Errors}}</td>{{else}}<td colspan="5" class="failed">failed: {{.Run.Error}}</td>{{end}}<td>{{ratio .Run}}</td></tr>
{{end}}</table>
<div class="charts">
{{range .Charts}}<div class="chart"><h3>{{.Title}}</h3>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Title}}" font-size="12">
{{$c := .}}{{range .Bars}}{{if .GroupLabel}}<text x="0" y="{{.GroupY}}" font-style="italic" fill="#4a5568">{{.GroupLabel}}</text>
{{end}}<text x="{{sub $c.LabelW 8}}" y="{{.TextY}}" text-anchor="end">{{.Label}}</text>
<rect x="{{$c.LabelW}}" y="{{.Y}}" width="{{.W}}" height="16" fill="{{.Color}}"><title>{{.Label}}: {{.Value}}</title></rect>
<text x="{{add $c.LabelW (add .W 6)}}" y="{{.TextY}}">{{.Value}}</text>
{{end}}</svg></div>
{{end}}</div>
{{end}}
<h2>Builds</h2>
<table>
<tr><th>peer</th><th>version</th><th>binary</th><th></th><th>seconds</th></tr>
{{range .R.Builds}}<tr><td>{{.Name}}</td><td>{{.Version}}</td><td>{{.Binary}}</td><td>{{if .Error}}<span class="failed">failed: {{.Error}}</span>{{else if .Cached}}cached{{else}}built{{end}}</td><td>{{if not .Cached}}{{printf "%.1f" .Seconds}}{{end}}</td></tr>
{{end}}</table>
<p>The builds ran side by side: {{printf "%.1f" .R.BuildsWallS}}s of wall time.</p>
<h2>As text</h2>
<pre>{{.Tables}}</pre>
</body>
</html>
`))
