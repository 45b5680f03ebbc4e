package handler

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// invalidPipelines are pipeline files Parse must reject;
// testdata/invalid-pipelines.golden holds the exact messages.
var invalidPipelines = []struct{ name, file string }{
	{"invalid yaml", "chains: [\n"},
	{"empty file", ""},
	{"not a mapping", "- routes\n"},
	{"misspelt top keys", "route: {default: k}\nchain: {k: [set-type: T]}\n"},
	{"second document", "routes: {default: k}\nchains: {k: [set-type: T]}\n---\nroutes: {}\n"},
	{"alias", "routes: {default: k}\nchains:\n  k: &s [set-type: T]\n  j: *s\n"},
	{"routes problems", `routes:
  defualt: k
  rules:
    - name: a
      when: {field: {$.amount: {gte: 1}}}
      keys: [k]
chains:
  k: [set-type: T]
`},
	{"routes nothing and no chains", "routes: {}\nchains: {}\n"},
	{"keys without chains", `routes:
  default: fallbak
  rules:
    - name: orders
      keys: [orders, audit]
    - name: more
      keys: audit
chains:
  order: [set-type: Order]
  fallback: [set-type: T]
`},
	{"chains not a mapping", "routes: {default: k}\nchains: [k]\n"},
	{"bad chains", `routes: {default: k}
chains:
  k: []
  j:
  "bad key": [set-type: T]
  i: set-type
`},
	{"unknown handlers", `routes: {default: k}
chains:
  k:
    - set-typ: T
    - enrcih: {}
    - "9lives": {}
    - frobnicate
`},
	{"malformed steps", `routes: {default: k}
chains:
  k:
    - {set-type: T, drop: x}
    - [set-type, T]
    - 3
    - {}
    - {[a]: 1}
`},
	{"built-ins without parameters", `routes: {default: k}
chains:
  k:
    - set-type
    - drop:
    - outbound: ~
`},
	{"set-type", `routes: {default: k}
chains:
  k:
    - set-type: order
    - set-type: {type: Order, version: 0}
    - set-type: {type: Order, versoin: 1}
    - set-type: {version: 1}
    - set-type: [Order]
`},
	{"rename", `routes: {default: k}
chains:
  k:
    - rename: {a: a.b, "x.y": x, $.c: d, e: "f..g", h: 1}
    - rename: {}
    - rename: [a, b]
`},
	{"drop", `routes: {default: k}
chains:
  k:
    - drop: []
    - drop: [a, b, a, "$.x", "a b"]
    - drop: {a: 1}
`},
	{"map sources", `routes: {default: k}
chains:
  k:
    - map:
        a: customer.id
        b: "$.items[x]"
        c: {path: $.x, header: X-Y}
        d: {const: 1, default: 2}
        e: {message: ids}
        f: {header: "bad name"}
        g: [1]
        h: {}
        i: {cost: 1}
        "j..k": $.x
        l: {const: .nan}
`},
	{"filter", `routes: {default: k}
chains:
  k:
    - filter: {}
    - filter: {when: {feild: {$.a: 1}}}
    - filter: {when: {field: {a: 1}}, unless: {}}
    - filter: {connector: crm}
`},
	{"split", `routes: {default: k}
chains:
  k:
    - split: {keep: [a]}
    - split: {field: lines, keep: [lines.x, id]}
    - split: {field: a.lines, keep: {x: a}}
    - split: {field: lines, keep: {}}
    - split: lines
`},
	{"enrich", `routes: {default: k}
chains:
  k:
    - enrich: {type: Customer}
    - enrich: {type: customer, key: {id: $.c, "a.b": $.d}, into: c, missing: maybe}
    - enrich: {type: Customer, key: {}, into: c, fields: []}
    - enrich: {type: Customer, key: {id: c}, into: $.c, fields: [a, a, "b.c"]}
`},
	{"outbound", `routes: {default: k}
chains:
  k:
    - outbound: "-billing"
    - outbound: {destination: billing, type: T}
    - outbound: {dest: billing}
    - outbound: [billing]
`},
	{"too many steps", "routes: {default: k}\nchains:\n  k: [" + strings.Repeat("set-type: T, ", MaxSteps) + "set-type: T]\n"},
	{"registered handler parameters", `routes: {default: k}
chains:
  k:
    - test-checked: {n: one}
    - test-checked
    - test-upper: {a: .inf}
    - test-upper: {[a]: 1}
    - test-upper: !!binary aGk=
    - test-check-panics: 1
`},
	{"duplicate chains", "routes: {default: k}\nchains:\n  k: [set-type: T]\n  k: [set-type: U]\n"},
}

func TestParseErrors(t *testing.T) {
	if len(invalidPipelines) < 20 {
		t.Fatalf("only %d invalid pipelines", len(invalidPipelines))
	}
	// Every error names the file and a line, and a path unless it is
	// about the file as a whole.
	shape := regexp.MustCompile(`^p\.yaml:[1-9][0-9]*: `)
	var out strings.Builder
	for _, tc := range invalidPipelines {
		p, err := Parse("p.yaml", []byte(tc.file))
		if err == nil {
			t.Errorf("%s: Parse accepted it", tc.name)
			continue
		}
		if p != nil {
			t.Errorf("%s: Parse returned a pipeline with its error", tc.name)
		}
		var list yamlcheck.ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %T is no ErrorList", tc.name, err)
		}
		for _, e := range list {
			if !shape.MatchString(e.Error()) {
				t.Errorf("%s: malformed error %q", tc.name, e)
			}
		}
		fmt.Fprintf(&out, "== %s\n%s\n", tc.name, err)
	}
	golden(t, "invalid-pipelines.golden", out.String())
}

func TestParseLimits(t *testing.T) {
	chains := func(n int) string {
		var b strings.Builder
		b.WriteString("routes: {default: k0}\nchains:\n")
		for i := range n {
			fmt.Fprintf(&b, "  k%d: [set-type: T]\n", i)
		}
		return b.String()
	}
	if _, err := Parse("p.yaml", []byte(chains(MaxChains))); err != nil {
		t.Fatalf("%d chains: %v", MaxChains, err)
	}
	_, err := Parse("p.yaml", []byte(chains(MaxChains+1)))
	if want := "p.yaml:3: chains: has 257 chains, at most 256"; err == nil || err.Error() != want {
		t.Errorf("%d chains: %v, want %s", MaxChains+1, err, want)
	}

	steps := func(n int) string {
		return "routes: {default: k}\nchains:\n  k: [" + strings.TrimSuffix(strings.Repeat("drop: x, ", n-1)+"set-type: T", ", ") + "]\n"
	}
	if _, err := Parse("p.yaml", []byte(steps(MaxSteps))); err != nil {
		t.Fatalf("%d steps: %v", MaxSteps, err)
	}
	_, err = Parse("p.yaml", []byte(steps(MaxSteps+1)))
	if want := "p.yaml:3: chains.k: has 33 entries, at most 32"; err == nil || err.Error() != want {
		t.Errorf("%d steps: %v, want %s", MaxSteps+1, err, want)
	}

	entries := func(n int) string {
		var fs []string
		for i := range n {
			fs = append(fs, fmt.Sprintf("f%d", i))
		}
		return chainOf("- drop: ["+strings.Join(fs, ", ")+"]", "- set-type: T")
	}
	if _, err := Parse("p.yaml", []byte(entries(MaxEntries))); err != nil {
		t.Fatalf("%d entries: %v", MaxEntries, err)
	}
	_, err = Parse("p.yaml", []byte(entries(MaxEntries+1)))
	if want := "p.yaml:4: chains.k[0].drop: has 257 entries, at most 256"; err == nil || err.Error() != want {
		t.Errorf("%d entries: %v, want %s", MaxEntries+1, err, want)
	}

	deep := "a" + strings.Repeat(".a", MaxFieldSteps-1)
	if _, err := Parse("p.yaml", []byte(chainOf("- drop: "+deep, "- set-type: T"))); err != nil {
		t.Fatalf("a field of %d names: %v", MaxFieldSteps, err)
	}
	if _, err := Parse("p.yaml", []byte(chainOf("- drop: "+deep+".a", "- set-type: T"))); err == nil {
		t.Errorf("a field of %d names accepted", MaxFieldSteps+1)
	}

	big := "routes: {default: k}\nchains:\n  k: [set-type: T]\n" + strings.Repeat("#", yamlcheck.MaxFileSize)
	if _, err := Parse("p.yaml", []byte(big)); err == nil || !strings.Contains(err.Error(), "over the limit of 1 MiB") {
		t.Errorf("a file over 1 MiB: %v", err)
	}
}

func TestParseAllowUnknown(t *testing.T) {
	src := chainOf("- set-type: T", "- not-in-this-binary: {x: 1}", "- also-missing")
	if _, err := Parse("p.yaml", []byte(src)); err == nil {
		t.Fatal("Parse accepted unknown handlers")
	}
	p, err := ParseWith("p.yaml", []byte(src), Options{AllowUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Chain("k"), []string{"set-type", "not-in-this-binary", "also-missing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Chain = %v, want %v", got, want)
	}
	o := p.Run(&Input{Payload: []byte(`{}`)}, nil, testNow)
	if want := `FAIL "k" 1 "not-in-this-binary": chain k, step 1 (not-in-this-binary): handler not-in-this-binary is not registered in this binary`; summary(o) != want {
		t.Errorf("got %s, want %s", summary(o), want)
	}
	// A name that is no handler name is still an error, and so are a
	// built-in's problems.
	for _, bad := range []string{"- 9lives: {}", "- set-type: lower"} {
		if _, err := ParseWith("p.yaml", []byte(chainOf(bad)), Options{AllowUnknown: true}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPipelineAccessors(t *testing.T) {
	p := mustParse(t, `
routes:
  rules:
    - {name: a, keys: [zeta, alpha]}
chains:
  zeta: [set-type: T]
  alpha: [drop: x, set-type: T]
  unused: [set-type: T]
`)
	if got, want := p.Keys(), []string{"alpha", "unused", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
	p.Keys()[0] = "changed"
	if p.Keys()[0] != "alpha" {
		t.Errorf("Keys shares its slice")
	}
	if got := p.Chain("alpha"); !reflect.DeepEqual(got, []string{"drop", "set-type"}) {
		t.Errorf("Chain(alpha) = %v", got)
	}
	if p.Chain("nope") != nil {
		t.Errorf("Chain(nope) is not nil")
	}
	if got, want := p.Routes.Keys(), []string{"alpha", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Routes.Keys = %v, want %v", got, want)
	}
}

func TestRegister(t *testing.T) {
	names := Registered()
	if !slices.IsSorted(names) {
		t.Errorf("Registered is not sorted: %v", names)
	}
	for _, want := range []string{"drop", "enrich", "filter", "map", "outbound", "rename", "set-type", "split", "test-upper", "test-checked"} {
		if !slices.Contains(names, want) {
			t.Errorf("Registered lacks %s: %v", want, names)
		}
	}
	f := func(c *Context, m *Message) ([]*Message, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		f    Func
		want string
	}{
		{"enrich", f, `handler: Register: "enrich" is a built-in handler`},
		{"test-upper", f, `handler: Register: "test-upper" is already registered`},
		{"", f, `handler: Register: "" is not valid: a handler name is letters, digits, - and _ (at most 64), starting with a letter`},
		{"-x", f, `handler: Register: "-x" is not valid: a handler name is letters, digits, - and _ (at most 64), starting with a letter`},
		{"a b", f, `handler: Register: "a b" is not valid: a handler name is letters, digits, - and _ (at most 64), starting with a letter`},
		{strings.Repeat("a", MaxNameLen+1), f, `handler: Register: "` + strings.Repeat("a", MaxNameLen+1) + `" is not valid: a handler name is letters, digits, - and _ (at most 64), starting with a letter`},
		{"fine-but-nil", nil, `handler: Register: "fine-but-nil" needs a function`},
	} {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			Register(tc.name, tc.f)
			return "no panic"
		}()
		if got != tc.want {
			t.Errorf("Register(%q): %s, want %s", tc.name, got, tc.want)
		}
	}
	if !reflect.DeepEqual(Registered(), names) {
		t.Errorf("a refused Register changed the registry: %v", Registered())
	}
}
