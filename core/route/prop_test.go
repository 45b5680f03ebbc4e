package route

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Generators of small rules files and messages over a small vocabulary,
// so that rules and messages meet often.
var (
	propConnectors = []string{"crm", "kafka", "web"}
	propFields     = []string{"a", "b", "c"}
	propValues     = []string{`"x"`, `"y"`, `1`, `2.5`, `true`, `null`, `[1,"x"]`, `{"a":"x"}`}
	propOperands   = []string{`x`, `"y"`, `1`, `2.5`, `true`, `null`}
	propOps        = []string{"eq", "ne", "prefix", "suffix", "contains", "gt", "ge", "lt", "le"}
)

func drawCond(t *rapid.T, depth int, label string) string {
	var parts []string
	if rapid.Bool().Draw(t, label+"conn") {
		parts = append(parts, "connector: "+rapid.SampledFrom(propConnectors).Draw(t, label+"connector"))
	}
	if rapid.Bool().Draw(t, label+"hdr") {
		parts = append(parts, "header: {X-Kind: "+rapid.SampledFrom([]string{"a", "b"}).Draw(t, label+"header")+"}")
	}
	if rapid.Bool().Draw(t, label+"fld") {
		f := rapid.SampledFrom(propFields).Draw(t, label+"field")
		switch rapid.IntRange(0, 3).Draw(t, label+"form") {
		case 0:
			parts = append(parts, fmt.Sprintf("field: {$.%s: %s}", f, rapid.SampledFrom(propOperands).Draw(t, label+"value")))
		case 1:
			parts = append(parts, fmt.Sprintf("field: {$.%s: {exists: %t}}", f, rapid.Bool().Draw(t, label+"exists")))
		case 2:
			parts = append(parts, fmt.Sprintf("field: {$.%s: {in: [x, 1, null]}}", f))
		default:
			op := rapid.SampledFrom(propOps).Draw(t, label+"op")
			operand := rapid.SampledFrom(propOperands).Draw(t, label+"operand")
			if op == "prefix" || op == "suffix" || ((op == "gt" || op == "ge" || op == "lt" || op == "le") && (operand == "true" || operand == "null")) {
				operand = `"x"`
			}
			parts = append(parts, fmt.Sprintf("field: {$.%s: {%s: %s}}", f, op, operand))
		}
	}
	if depth < 3 && rapid.Bool().Draw(t, label+"hasnot") {
		parts = append(parts, "not: "+drawCond(t, depth+1, label+"n"))
	}
	if depth < 3 && rapid.Bool().Draw(t, label+"hasany") {
		parts = append(parts, "any: ["+drawCond(t, depth+1, label+"a0")+", "+drawCond(t, depth+1, label+"a1")+"]")
	}
	if len(parts) == 0 {
		parts = append(parts, "connector: "+rapid.SampledFrom(propConnectors).Draw(t, label+"connector"))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func drawRules(t *rapid.T) string {
	var b strings.Builder
	if rapid.Bool().Draw(t, "default") {
		b.WriteString("default: fallback\n")
	}
	b.WriteString("rules:\n")
	n := rapid.IntRange(1, 6).Draw(t, "rules")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    keys: [%s]\n    stop: %t\n", i,
			strings.Join(rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"k1", "k2", "k3", "k4"}), 1, 3, rapid.ID).Draw(t, "keys"), ", "),
			rapid.IntRange(0, 4).Draw(t, "stop") == 0)
		if rapid.IntRange(0, 5).Draw(t, "always") > 0 {
			fmt.Fprintf(&b, "    when: %s\n", drawCond(t, 1, fmt.Sprintf("r%d.", i)))
		}
	}
	return b.String()
}

func drawMessage(t *rapid.T) *Message {
	m := &Message{Connector: rapid.SampledFrom(append(propConnectors, "")).Draw(t, "connector")}
	if rapid.Bool().Draw(t, "has header") {
		name := rapid.SampledFrom([]string{"X-Kind", "x-kind", "X-KIND"}).Draw(t, "header name")
		m.Headers = map[string]string{name: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "header")}
	}
	switch rapid.IntRange(0, 5).Draw(t, "payload kind") {
	case 0:
	case 1:
		m.Payload = []byte(rapid.SampledFrom([]string{`{`, `[]`, `"x"`, `{} x`}).Draw(t, "bad payload"))
	default:
		var fields []string
		for _, f := range propFields {
			if rapid.Bool().Draw(t, "has "+f) {
				fields = append(fields, fmt.Sprintf("%q:%s", f, rapid.SampledFrom(propValues).Draw(t, f)))
			}
		}
		m.Payload = []byte("{" + strings.Join(fields, ",") + "}")
	}
	return m
}

// TestPropRouteDeterministic: routing a message twice, through rules
// parsed twice, gives the same result.
func TestPropRouteDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := drawRules(t)
		a, err := Parse("a.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		b, err := Parse("b.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		m := drawMessage(t)
		ra, rb := a.Route(m), b.Route(m)
		if !reflect.DeepEqual(ra, rb) || !reflect.DeepEqual(ra, a.Route(m)) {
			t.Fatalf("results differ: %+v, %+v\n%s", ra, rb, src)
		}
	})
}

// TestPropNeverMatchingRule: appending a rule that never matches changes
// no result.
func TestPropNeverMatchingRule(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := drawRules(t)
		never := "  - name: never\n    keys: [k1, never]\n    when: {connector: nobody, field: {$.a: 1}}\n"
		a, err := Parse("a.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		b, err := Parse("b.yaml", []byte(src+never))
		if err != nil {
			t.Fatalf("%v\n%s", err, src+never)
		}
		m := drawMessage(t)
		if ra, rb := a.Route(m), b.Route(m); !reflect.DeepEqual(ra, rb) {
			t.Fatalf("the never-matching rule changed %+v into %+v\n%s", ra, rb, src)
		}
	})
}
