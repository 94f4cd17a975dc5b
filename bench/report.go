package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// The files a report is written to, in its directory.
const (
	JSONFile = "bench.json"
	HTMLFile = "bench.html"
	// EChartsFile is the local copy of echarts.min.js the HTML loads when
	// one is given (WriteFiles' echartsJS), so the page works offline.
	EChartsFile = "echarts.min.js"
)

// WriteTable prints the report as tables: the ceilings, one row per
// strategy and scenario, the seed's race, and I1.
func WriteTable(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nflashsale bench %s: target %s (%s), %d CPUs, %s; open model at %d req/s for %gs; seed: %d rounds\n",
		r.Date, r.Target, r.Protocol, r.Machine.CPUs, r.Machine.GoVersion, r.Rate, r.DurationS, r.Rounds)
	fmt.Fprintln(w, "\nceilings (closed loop, this machine):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ceiling\tops/s\tconc\tp50 ms\tp99 ms\twhat")
	for _, c := range r.Ceilings {
		if c.Skipped != "" {
			fmt.Fprintf(tw, "  %s\tskipped\t\t\t\t%s\n", c.Name, c.Skipped)
			continue
		}
		what := c.What
		if c.Note != "" {
			what += " (" + c.Note + ")"
		}
		fmt.Fprintf(tw, "  %s\t%.0f\t%d\t%.2f\t%.2f\t%s\n", c.Name, c.OpsPerSec, c.Concurrency, c.Latency.P50, c.Latency.P99, what)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nresults (latency in ms; %http = answers/s as a percentage of the HTTP ceiling, %redis = purchase answers/s of the reserve script's, %mysql = confirmed/s of the durable insert's):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tscenario\trate\treq\tans/s\tp50\tp90\tp99\tmax\tconfirmed\tinsufficient\tlock busy\tcontention\treads\tshed\terrors\t%http\t%redis\t%mysql\tI1\t")
	for _, x := range r.Results {
		o := x.Outcomes
		rate := "closed"
		if x.Rate > 0 {
			rate = fmt.Sprintf("%.0f", x.Rate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			x.Strategy, x.Scenario, rate, x.Requests, x.Throughput, x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.Max,
			o.Confirmed, o.Insufficient, o.LockBusy, o.Contention, o.Reads, o.Shed, o.Errors,
			ratio(x.Ratios, CeilingHTTP), ratio(x.Ratios, CeilingRedis), ratio(x.Ratios, CeilingMySQL), okText(x.I1OK()))
	}
	tw.Flush()

	var seeds []Result
	for _, x := range r.Results {
		if x.Seed != nil {
			seeds = append(seeds, x)
		}
	}
	if len(seeds) > 0 {
		fmt.Fprintf(w, "\nthe seed's race: %d buyers at once on stock %d, retrying lock_busy/contention; times in ms from the round's start\n",
			seeds[0].Seed.Buyers, seeds[0].Seed.Stock)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "strategy\trounds exact\tfirst: confirmed\tinsufficient\tlock busy\tcontention\terrors\tattempts/buyer\tbuyer mean\tbuyer p50\tbuyer p99\tround mean\tround max\t")
		for _, x := range seeds {
			s := x.Seed
			buyers := max(1, s.Buyers*r.Rounds)
			fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", x.Strategy, s.ExactlyStock, r.Rounds,
				s.First.Confirmed, s.First.Insufficient, s.First.LockBusy, s.First.Contention, s.First.Errors,
				float64(s.Attempts)/float64(buyers), s.Buyer.Mean, s.Buyer.P50, s.Buyer.P99, s.Round.Mean, s.Round.Max)
		}
		tw.Flush()
	}
	writeCrowdTables(w, r)
	for _, x := range r.Results {
		for _, n := range x.Notes {
			fmt.Fprintf(w, "note: %s/%s: %s\n", x.Strategy, x.Scenario, n)
		}
		if len(x.Outcomes.ErrorKinds) > 0 {
			fmt.Fprintf(w, "errors: %s/%s: %v\n", x.Strategy, x.Scenario, x.Outcomes.ErrorKinds)
		}
		if len(x.Outcomes.ShedKinds) > 0 {
			fmt.Fprintf(w, "shed: %s/%s: %v\n", x.Strategy, x.Scenario, x.Outcomes.ShedKinds)
		}
		for _, c := range x.I1 {
			if !c.OK {
				fmt.Fprintf(w, "I1 VIOLATED: %s/%s product %s: supplied %d, available %d, confirmed answers %d\n",
					x.Strategy, x.Scenario, c.Product, c.Supplied, c.Available, c.Confirmed)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "I1 (confirmed ≤ stock supplied, checked with GET /products/:id and the answers): %s\n", okText(r.I1OK))
	for _, x := range r.Results {
		if x.Overload != nil {
			fmt.Fprintf(w, "orders (every 201 of overload read back with GET /orders/:id is CONFIRMED): %s\n", okText(r.OrdersOK))
			if i2 := x.Overload.I2; i2.Checked {
				fmt.Fprintf(w, "I2 at rest (the hot product: the gate holds nothing, its stock %d = the database's %d): %s\n",
					i2.GateStock, i2.DurableStock, okText(r.I2OK))
			} else {
				fmt.Fprintf(w, "I2 at rest: %s\n", i2.Note)
			}
			break
		}
	}
}

// writeCrowdTables prints what the saturate, overload and soldout
// scenarios add: their steps, phases and runs.
func writeCrowdTables(w io.Writer, r *Report) {
	var sats, overs, solds []Result
	for _, x := range r.Results {
		if x.Saturation != nil {
			sats = append(sats, x)
		}
		if x.Overload != nil {
			overs = append(overs, x)
		}
		if x.SoldOut != nil {
			solds = append(solds, x)
		}
	}
	if len(sats) > 0 {
		fmt.Fprintf(w, "\nsaturate: one hot product, stock for every request, open model, %gs per step; latency in ms\n", sats[0].Saturation.StepDurationS)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "strategy\tstep rate\treq\tans/s\tconfirmed/s\tp50\tp90\tp99\tconfirmed\tinsufficient\tshed\t502\terrors\tsustainable\t")
		for _, x := range sats {
			for _, st := range x.Saturation.Steps {
				o := st.Outcomes
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%s\t\n", x.Strategy, st.Rate, st.Requests,
					st.Throughput, st.ConfirmedPerSec, st.Latency.P50, st.Latency.P90, st.Latency.P99, o.Confirmed, o.Insufficient,
					o.Shed, o.BadGateway(), o.Errors-o.BadGateway(), yesNo(st.sustainable()))
			}
		}
		tw.Flush()
		for _, x := range sats {
			s := x.Saturation
			mysql := "the MySQL ceiling before the steps: skipped (" + s.MySQL.Skipped + ")"
			if s.MySQL.measured() {
				mysql = fmt.Sprintf("the MySQL ceiling measured just before the steps: %.0f inserts/s (%s)", s.MySQL.OpsPerSec, s.MySQL.Note)
			}
			fmt.Fprintf(w, "%s: sustainable rate %d/s (every answer 201, p99 < %d ms)%s; saturation %.0f confirmed/s (at the %d/s step)%s; %s\n",
				x.Strategy, s.SustainableRate, SustainableP99Ms, ofMySQL(s.MySQL, s.SustainableToMySQL),
				s.SaturationConfirmedPerSec, s.SaturationStepRate, ofMySQL(s.MySQL, s.SaturationToMySQL), mysql)
			for _, st := range s.Steps {
				if len(st.Outcomes.ShedKinds) > 0 || len(st.Outcomes.ErrorKinds) > 0 {
					fmt.Fprintf(w, "  %s step %d/s: shed %v, errors %v\n", x.Strategy, st.Rate, st.Outcomes.ShedKinds, st.Outcomes.ErrorKinds)
				}
			}
		}
	}
	if len(overs) > 0 {
		fmt.Fprintln(w, "\noverload: one hot product at 2R and 5R (R = its saturating rate), another product's reads alongside; latency in ms")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "strategy\tphase\trate\treq\tans/s\tp99\tconfirmed\t502\tshed 429/503\twith Retry-After+problem\tshed p99\treads\treads p99\tread errors\t")
		for _, x := range overs {
			for _, p := range x.Overload.Phases {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%d\t%d\t%d\t%d\t%.2f\t%d\t%.2f\t%d\t\n", x.Strategy, p.Name, p.Rate,
					p.Requests, p.Throughput, p.Latency.P99, p.Confirmed, p.BadGateway, p.Shed, p.ShedWellFormed, p.ShedLatency.P99,
					p.ReadRequests, p.ReadLatency.P99, p.ReadOutcomes.Errors+p.ReadOutcomes.Shed)
			}
		}
		tw.Flush()
		for _, x := range overs {
			ov := x.Overload
			fmt.Fprintf(w, "%s: R = %d/s (%s), reads at %d/s; orders read back %d: not CONFIRMED %d, unreadable %d\n",
				x.Strategy, ov.SaturationRate, ov.RateFrom, ov.ReadRate, ov.OrdersChecked, ov.OrdersNotConfirmed, ov.OrdersUnreadable)
		}
	}
	if len(solds) > 0 {
		fmt.Fprintln(w, "\nsoldout: purchases of a sold-out product, closed loop at full speed; rejections = 409 insufficient_stock; latency in ms")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "strategy\tIdempotency-Key\tconc\treq\trejections/s\t%http\tp50\tp99\tnot 409\t")
		for _, x := range solds {
			so := x.SoldOut
			for _, run := range []struct {
				key string
				r   SoldOutRun
			}{{"no", so.WithoutKey}, {"yes", so.WithKey}} {
				pct := "-"
				if run.r.RatioHTTP > 0 {
					pct = fmt.Sprintf("%.2f", 100*run.r.RatioHTTP)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%.2f\t%.2f\t%d\t\n", x.Strategy, run.key, so.Concurrency, run.r.Requests,
					run.r.RejectionsPerSec, pct, run.r.Latency.P50, run.r.Latency.P99, run.r.Errors)
			}
		}
		tw.Flush()
	}
}

// ofMySQL renders a ratio to the MySQL ceiling, if it was measured.
func ofMySQL(c Ceiling, v float64) string {
	if !c.measured() {
		return ""
	}
	return fmt.Sprintf(" = %.1f%% of the MySQL ceiling", 100*v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func ratio(m map[string]float64, k string) string {
	v, ok := m[k]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", 100*v)
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "VIOLATED"
}

// WriteFiles writes the report into dir as JSON and as HTML with charts.
// With echartsJS (a path to echarts.min.js) the page loads a copy next to
// it and works offline; without, it loads ECharts from go-echarts' CDN.
func WriteFiles(dir string, r *Report, echartsJS string) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	jsonPath, htmlPath = filepath.Join(dir, JSONFile), filepath.Join(dir, HTMLFile)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return "", "", err
	}
	host := ""
	if echartsJS != "" {
		js, err := os.ReadFile(echartsJS)
		if err != nil {
			return "", "", fmt.Errorf("echarts: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, EChartsFile), js, 0o644); err != nil {
			return "", "", err
		}
		host = "./"
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r, host); err != nil {
		return "", "", err
	}
	return jsonPath, htmlPath, os.WriteFile(htmlPath, buf.Bytes(), 0o644)
}

// Chart titles, also what a test looks for.
const (
	TitleThroughput = "Throughput per scenario and strategy"
	TitleLatency    = "Latency percentiles"
	TitleOutcomes   = "Outcomes per strategy"
	TitleCeilings   = "Ratio to this machine's ceilings"
	TitleSeed       = "The seed's race: time to a final answer"
	TitleSaturate   = "Saturate: confirmed/s and p99 per step"
	TitleOverload   = "Overload: answers per phase"
)

// WriteHTML renders the report page: a summary, then the charts.
// assetsHost is where echarts.min.js is loaded from ("" for the CDN).
func WriteHTML(w io.Writer, r *Report, assetsHost string) error {
	page := components.NewPage()
	page.SetPageTitle("flashsale bench " + r.Date)
	page.SetLayout(components.PageFlexLayout)
	if assetsHost != "" {
		page.SetAssetsHost(assetsHost)
	}
	init := func(title, sub string) []charts.GlobalOpts {
		return []charts.GlobalOpts{
			charts.WithInitializationOpts(opts.Initialization{Width: "1100px", Height: "420px", AssetsHost: assetsHost}),
			charts.WithTitleOpts(opts.Title{Title: title, Subtitle: sub}),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "45"}),
		}
	}
	var labels []string // strategy/scenario, in run order
	for _, x := range r.Results {
		labels = append(labels, x.Strategy+"/"+x.Scenario)
	}

	// Throughput: x = scenario, one series per strategy.
	tp := charts.NewBar()
	tp.SetGlobalOptions(append(init(TitleThroughput, fmt.Sprintf("answers/s (open model at %d req/s; the seed is closed-loop)", r.Rate)),
		charts.WithYAxisOpts(opts.YAxis{Name: "answers/s"}))...)
	tp.SetXAxis(r.Scenarios)
	for _, s := range r.Strategies {
		var data []opts.BarData
		for _, sc := range r.Scenarios {
			data = append(data, opts.BarData{Value: round2(find(r, s, sc).Throughput)})
		}
		tp.AddSeries(s, data)
	}

	// Latency percentiles, log scale.
	lat := charts.NewBar()
	lat.SetGlobalOptions(append(init(TitleLatency, "ms per request, log scale"),
		charts.WithYAxisOpts(opts.YAxis{Name: "ms", Type: "log", Min: 0.01}),
		charts.WithXAxisOpts(opts.XAxis{AxisLabel: &opts.AxisLabel{Rotate: 30, Interval: "0"}}))...)
	lat.SetXAxis(labels)
	for _, p := range []struct {
		name string
		f    func(Latency) float64
	}{
		{"p50", func(l Latency) float64 { return l.P50 }}, {"p90", func(l Latency) float64 { return l.P90 }},
		{"p99", func(l Latency) float64 { return l.P99 }}, {"max", func(l Latency) float64 { return l.Max }},
	} {
		var data []opts.BarData
		for _, x := range r.Results {
			data = append(data, opts.BarData{Value: round2(max(p.f(x.Latency), 0.01))})
		}
		lat.AddSeries(p.name, data)
	}

	// Outcomes, stacked.
	out := charts.NewBar()
	out.SetGlobalOptions(append(init(TitleOutcomes, "answers by kind"),
		charts.WithXAxisOpts(opts.XAxis{AxisLabel: &opts.AxisLabel{Rotate: 30, Interval: "0"}}))...)
	out.SetXAxis(labels)
	for _, k := range []struct {
		name string
		f    func(Outcomes) int
	}{
		{"confirmed", func(o Outcomes) int { return o.Confirmed }}, {"insufficient stock", func(o Outcomes) int { return o.Insufficient }},
		{"lock busy", func(o Outcomes) int { return o.LockBusy }}, {"contention", func(o Outcomes) int { return o.Contention }},
		{"reads", func(o Outcomes) int { return o.Reads }}, {"shed", func(o Outcomes) int { return o.Shed }},
		{"errors", func(o Outcomes) int { return o.Errors }},
	} {
		var data []opts.BarData
		for _, x := range r.Results {
			data = append(data, opts.BarData{Value: k.f(x.Outcomes)})
		}
		out.AddSeries(k.name, data, charts.WithBarChartOpts(opts.BarChart{Stack: "outcomes"}))
	}

	// Ratios to the ceilings, in percent.
	rc := charts.NewBar()
	rc.SetGlobalOptions(append(init(TitleCeilings, ceilingSubtitle(r)),
		charts.WithYAxisOpts(opts.YAxis{Name: "% of ceiling"}),
		charts.WithXAxisOpts(opts.XAxis{AxisLabel: &opts.AxisLabel{Rotate: 30, Interval: "0"}}))...)
	rc.SetXAxis(labels)
	for _, c := range r.Ceilings {
		if c.Skipped != "" {
			continue
		}
		var data []opts.BarData
		for _, x := range r.Results {
			v, ok := x.Ratios[c.Name]
			if !ok {
				data = append(data, opts.BarData{Value: "-"})
				continue
			}
			data = append(data, opts.BarData{Value: round2(100 * v)})
		}
		rc.AddSeries(c.Name, data)
	}
	page.AddCharts(tp, lat, out, rc)

	// The seed's race.
	var seedStrategies []string
	var mean, p99, roundMean []opts.BarData
	for _, x := range r.Results {
		if x.Seed == nil {
			continue
		}
		seedStrategies = append(seedStrategies, x.Strategy)
		mean = append(mean, opts.BarData{Value: round2(x.Seed.Buyer.Mean)})
		p99 = append(p99, opts.BarData{Value: round2(x.Seed.Buyer.P99)})
		roundMean = append(roundMean, opts.BarData{Value: round2(x.Seed.Round.Mean)})
	}
	if len(seedStrategies) > 0 {
		sd := charts.NewBar()
		sd.SetGlobalOptions(append(init(TitleSeed, "10 buyers at once on stock 9, retrying lock_busy/contention; ms from the round's start"),
			charts.WithYAxisOpts(opts.YAxis{Name: "ms"}))...)
		sd.SetXAxis(seedStrategies)
		sd.AddSeries("buyer mean", mean)
		sd.AddSeries("buyer p99", p99)
		sd.AddSeries("round mean (last buyer)", roundMean)
		page.AddCharts(sd)
	}
	if c := saturateChart(r, init); c != nil {
		page.AddCharts(c)
	}
	if c := overloadChart(r, init); c != nil {
		page.AddCharts(c)
	}

	var buf bytes.Buffer
	if err := page.Render(&buf); err != nil {
		return err
	}
	// The summary goes first in the body: the table the terminal shows.
	var tbl bytes.Buffer
	WriteTable(&tbl, r)
	summary := `<div style="font-family:sans-serif;max-width:1200px;margin:16px auto"><h1>flashsale bench ` +
		html.EscapeString(r.Date) + `</h1><pre style="font-size:11px;overflow-x:auto">` + html.EscapeString(tbl.String()) + `</pre></div>`
	page1 := strings.Replace(buf.String(), "<body>", "<body>\n"+summary, 1)
	_, err := io.WriteString(w, page1)
	return err
}

// saturateChart is confirmed/s (left axis) and p99 (right axis, log) per
// saturate step rate, one pair of lines per strategy; nil without steps.
func saturateChart(r *Report, init func(title, sub string) []charts.GlobalOpts) *charts.Line {
	var rates []int
	for _, x := range r.Results {
		if x.Saturation == nil {
			continue
		}
		for _, st := range x.Saturation.Steps {
			if !slices.Contains(rates, st.Rate) {
				rates = append(rates, st.Rate)
			}
		}
	}
	if len(rates) == 0 {
		return nil
	}
	slices.Sort(rates)
	var xs []string
	for _, v := range rates {
		xs = append(xs, fmt.Sprint(v))
	}
	l := charts.NewLine()
	l.SetGlobalOptions(append(init(TitleSaturate, "x: the step's asked rate (requests/s); confirmed/s on the left, p99 ms on the right (log)"),
		charts.WithXAxisOpts(opts.XAxis{Name: "req/s"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "confirmed/s"}))...)
	l.ExtendYAxis(opts.YAxis{Name: "p99 ms", Type: "log", Min: 0.1})
	l.SetXAxis(xs)
	for _, x := range r.Results {
		if x.Saturation == nil {
			continue
		}
		var conf, p99 []opts.LineData
		for _, rate := range rates {
			v, q := any("-"), any("-")
			for _, st := range x.Saturation.Steps {
				if st.Rate == rate {
					v, q = round2(st.ConfirmedPerSec), round2(max(st.Latency.P99, 0.1))
				}
			}
			conf = append(conf, opts.LineData{Value: v})
			p99 = append(p99, opts.LineData{Value: q})
		}
		l.AddSeries(x.Strategy+" confirmed/s", conf)
		l.AddSeries(x.Strategy+" p99 ms", p99, charts.WithLineChartOpts(opts.LineChart{YAxisIndex: 1}))
	}
	return l
}

// overloadChart is each overload phase's purchase answers by kind,
// stacked; nil when overload did not run.
func overloadChart(r *Report, init func(title, sub string) []charts.GlobalOpts) *charts.Bar {
	var labels []string
	var phases []OverloadPhase
	for _, x := range r.Results {
		if x.Overload == nil {
			continue
		}
		for _, p := range x.Overload.Phases {
			labels = append(labels, fmt.Sprintf("%s/%s (%d/s)", x.Strategy, p.Name, p.Rate))
			phases = append(phases, p)
		}
	}
	if len(phases) == 0 {
		return nil
	}
	b := charts.NewBar()
	b.SetGlobalOptions(init(TitleOverload, "purchases of the hot product; shed = 429/503, well formed with Retry-After and problem+json")...)
	b.SetXAxis(labels)
	for _, k := range []struct {
		name string
		f    func(OverloadPhase) int
	}{
		{"confirmed", func(p OverloadPhase) int { return p.Confirmed }},
		{"shed, well formed", func(p OverloadPhase) int { return p.ShedWellFormed }},
		{"shed, malformed", func(p OverloadPhase) int { return p.Shed - p.ShedWellFormed }},
		{"502", func(p OverloadPhase) int { return p.BadGateway }},
		{"other", func(p OverloadPhase) int {
			return p.Requests - p.Confirmed - p.Shed - p.BadGateway
		}},
	} {
		var data []opts.BarData
		for _, p := range phases {
			data = append(data, opts.BarData{Value: k.f(p)})
		}
		b.AddSeries(k.name, data, charts.WithBarChartOpts(opts.BarChart{Stack: "answers"}))
	}
	return b
}

func ceilingSubtitle(r *Report) string {
	var parts []string
	for _, c := range r.Ceilings {
		if c.Skipped != "" {
			parts = append(parts, c.Name+": skipped")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f/s", c.Name, c.OpsPerSec))
	}
	return "http: answers/s; redis: purchase answers/s; mysql: confirmed/s (2 durable commits each) — " + strings.Join(parts, ", ")
}

func find(r *Report, strategy, scenario string) Result {
	for _, x := range r.Results {
		if x.Strategy == strategy && x.Scenario == scenario {
			return x
		}
	}
	return Result{}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
