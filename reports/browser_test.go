package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds one test's use of the browser, so that a hung
// Chromium fails the test instead of hanging it.
const browserTimeout = 2 * time.Minute

// browser starts a headless Chromium for the test and returns its context.
// Without Chromium the test is skipped, except in CI, where that is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the browser tests", err)
		}
		t.Skipf("%v: install Debian's chromium to run the browser tests", err)
	}

	// The defaults already hold headless and no-first-run.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1400, 1000),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox on.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// findChromium returns the browser named by SHOAL_CHROMIUM, or else the first
// of the usual names on PATH. A SHOAL_CHROMIUM that names no executable
// counts as no browser: falling back would test a browser nobody asked for.
func findChromium() (string, error) {
	if p := os.Getenv("SHOAL_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("chromium not found: SHOAL_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found")
}

// artifactsDir returns the directory for screenshots and other files a
// person may want to look at after the test, creating it if needed.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHOAL_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "shoal-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return dir
}

// page is one HTML file open in its own tab, with the errors it has reported
// so far.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string

	mu   sync.Mutex
	errs []string
}

// load opens the file in a new tab of the browser and waits until its script
// sets document.body.dataset.ready to "1". Console errors, uncaught
// exceptions and browser log errors (such as a file that failed to load) are
// recorded from before the navigation on.
func load(t *testing.T, ctx context.Context, path string) *page {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	ctx, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, name: filepath.Base(abs)}

	// chromedp enables the Log domain on every tab, so log entries arrive
	// without a log.Enable here. Listen, unlike chromedp.Console, calls its
	// func before the command that follows the event returns, so errors()
	// never misses an error that came before it.
	err = chromedp.Listen(ctx, func(ev any) {
		if msg, ok := describeError(ev); ok {
			p.mu.Lock()
			p.errs = append(p.errs, msg)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("load %s: %v", p.name, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.ToSlash(abs))); err != nil {
		t.Fatalf("load %s: %v", p.name, err)
	}
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.body?.dataset.ready === "1"`))
	if err != nil {
		t.Fatalf("load %s: never set data-ready=1: %v; errors: %q", p.name, err, p.errors())
	}
	return p
}

// describeError renders an error event of the page as one line, and reports
// whether the event was an error at all.
func describeError(ev any) (string, bool) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return "", false
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, describeValue(a))
		}
		msg := "console.error: " + strings.Join(args, " ")
		if st := ev.StackTrace; st != nil && len(st.CallFrames) > 0 {
			f := st.CallFrames[0]
			msg += at(f.URL, f.LineNumber, f.ColumnNumber)
		}
		return msg, true
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := "exception: " + d.Text
		if d.Exception != nil {
			// The description of an Error holds its stack after the first line.
			first, _, _ := strings.Cut(describeValue(d.Exception), "\n")
			msg += " " + first
		}
		return msg + at(d.URL, d.LineNumber, d.ColumnNumber), true
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return "", false
		}
		msg := fmt.Sprintf("log (%s): %s", e.Source, e.Text)
		if e.URL != "" {
			msg += " at " + e.URL
		}
		return msg, true
	}
	return "", false
}

// describeValue renders a value the page passed to the console.
func describeValue(o *runtime.RemoteObject) string {
	var s string
	if o.Type == runtime.RemoteObjectTypeString && json.Unmarshal(o.Value, &s) == nil {
		return s
	}
	switch {
	case o.Description != "":
		return o.Description
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.Type)
}

// at renders a source position; the protocol counts lines and columns from 0.
func at(url string, line, col int64) string {
	if url == "" {
		return ""
	}
	return fmt.Sprintf(" at %s:%d:%d", url, line+1, col+1)
}

// errors returns the errors the page has reported so far.
func (p *page) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}

// eval runs a JavaScript expression in the page and decodes its value.
// The expressions below throw when the selector matches nothing, so a
// missing element fails at once instead of waiting out the timeout.
func eval[T any](p *page, what, sel, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %s %q: %v", p.name, what, sel, err)
	}
	return v
}

// query is a JavaScript expression for the first element matching sel, which
// throws when there is none.
func query(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%[1]s) ?? (() => { throw new Error("no element matches " + %[1]s) })())`, jsString(sel))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// text returns the rendered text of the first element matching sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, "text", sel, query(sel)+".innerText")
}

// attr returns an attribute of the first element matching sel, failing the
// test when the element lacks it.
func (p *page) attr(sel, name string) string {
	p.t.Helper()
	expr := fmt.Sprintf(`((el, name) => {
		if (!el.hasAttribute(name)) throw new Error("no attribute " + name);
		return el.getAttribute(name);
	})(%s, %s)`, query(sel), jsString(name))
	return eval[string](p, "attr", sel, expr)
}

// count returns how many elements match sel.
func (p *page) count(sel string) int {
	p.t.Helper()
	return eval[int](p, "count", sel, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// click clicks the middle of the first element matching sel.
func (p *page) click(sel string) {
	p.t.Helper()
	p.clickAt(sel, 0.5, 0.5)
}

// clickAt scrolls the first element matching sel to the middle of the
// viewport and clicks it with a real mouse event at fractions fx, fy of its
// width and height. It fails the test when another element covers that
// point, since a person's click would land there instead.
func (p *page) clickAt(sel string, fx, fy float64) {
	p.t.Helper()
	pt := p.pointIn(sel, fx, fy, "click")
	if err := chromedp.Do(p.ctx, chromedp.MouseClickXY(pt.X, pt.Y)); err != nil {
		p.t.Fatalf("%s: click %q: %v", p.name, sel, err)
	}
}

// hoverAt moves the mouse, as clickAt would click, to fractions fx, fy of
// the first element matching sel.
func (p *page) hoverAt(sel string, fx, fy float64) {
	p.t.Helper()
	pt := p.pointIn(sel, fx, fy, "hover")
	if err := chromedp.Do(p.ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pt.X, pt.Y)); err != nil {
		p.t.Fatalf("%s: hover %q: %v", p.name, sel, err)
	}
}

// pointIn scrolls the first element matching sel to the middle of the
// viewport and returns the point at fractions fx, fy of it, failing the
// test when another element covers that point.
func (p *page) pointIn(sel string, fx, fy float64, what string) struct{ X, Y float64 } {
	p.t.Helper()
	expr := fmt.Sprintf(`((el, fx, fy) => {
		el.scrollIntoView({block: "center", inline: "center"});
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) throw new Error("element has no size");
		const x = r.left + fx * r.width, y = r.top + fy * r.height;
		const hit = document.elementFromPoint(x, y);
		if (!el.contains(hit)) throw new Error("(" + x + ", " + y + ") is covered by " + (hit ? hit.outerHTML.slice(0, 80) : "nothing"));
		return {x, y};
	})(%s, %g, %g)`, query(sel), fx, fy)
	return eval[struct{ X, Y float64 }](p, what, sel, expr)
}

// screenshot writes a PNG of the whole page into the artifacts directory and
// returns its path.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	// Any quality below 100 makes chromedp ask for a JPEG.
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("%s: screenshot %q: %v", p.name, name, err)
	}
	file := strings.ReplaceAll(p.t.Name(), "/", "_") + "-" + name + ".png"
	path := filepath.Join(artifactsDir(p.t), file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("%s: screenshot %q: %v", p.name, name, err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

func TestBrowserHarness(t *testing.T) {
	ctx := browser(t)
	write := func(t *testing.T, body string) string {
		path := filepath.Join(t.TempDir(), "page.html")
		html := "<!doctype html>\n<meta charset=\"utf-8\">\n<title>harness</title>\n<body>\n" + body
		if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("interactions", func(t *testing.T) {
		// #area sits below the fold, so clickAt has to scroll to it.
		p := load(t, ctx, write(t, `<style>#area { width: 200px; height: 100px; margin-top: 1500px; background: #9cf; }</style>
<script>
const x = document.createElement("p");
x.id = "x";
x.dataset.n = "3";
x.textContent = "hello";
document.body.append(x);
for (let i = 0; i < 3; i++) {
	const dot = document.createElement("i");
	dot.className = "dot";
	dot.textContent = "•";
	document.body.append(dot);
}
const b = document.createElement("button");
b.id = "b";
b.textContent = "press";
b.addEventListener("click", () => { x.textContent = "clicked"; });
document.body.append(b);
const area = document.createElement("div");
area.id = "area";
area.addEventListener("click", e => { x.dataset.offsetX = e.offsetX; });
document.body.append(area);
document.body.dataset.ready = "1";
</script>`))

		if got := p.text("#x"); got != "hello" {
			t.Errorf(`text("#x") = %q, want "hello"`, got)
		}
		if got := p.attr("#x", "data-n"); got != "3" {
			t.Errorf(`attr("#x", "data-n") = %q, want "3"`, got)
		}
		if got := p.count("i.dot"); got != 3 {
			t.Errorf(`count("i.dot") = %d, want 3`, got)
		}
		p.click("#b")
		if got := p.text("#x"); got != "clicked" {
			t.Errorf(`text("#x") after clicking #b = %q, want "clicked"`, got)
		}
		p.clickAt("#area", 0.5, 0.5)
		offset, err := strconv.ParseFloat(p.attr("#x", "data-offset-x"), 64)
		if err != nil {
			t.Fatal(err)
		}
		if offset < 98 || offset > 102 {
			t.Errorf("offsetX of a click in the middle of a 200px #area = %v, want 100±2", offset)
		}
		if errs := p.errors(); len(errs) != 0 {
			t.Errorf("errors() = %q, want none", errs)
		}

		shot, err := os.ReadFile(p.screenshot("interactions"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot is not a PNG (%d bytes)", len(shot))
		}
	})

	// The capture must be able to fail: each of these pages reports an error.
	for _, tc := range []struct {
		name, script, want string
	}{
		{"console error", `console.error("boom"); document.body.dataset.ready = "1";`, "boom"},
		{"exception", `document.body.dataset.ready = "1"; throw new Error("kaboom");`, "kaboom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, ctx, write(t, "<script>"+tc.script+"</script>"))
			errs := p.errors()
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
				t.Errorf("errors() = %q, want one containing %q", errs, tc.want)
			}
			t.Logf("errors() = %q", errs)
		})
	}
}
