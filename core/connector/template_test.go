package connector

import (
	"fmt"
	"strings"
	"testing"
)

// order is a message as the outbound queue holds one.
var order = &Message{
	Destination: "audit", Seq: 42, IdempotencyKey: "rs1/audit/42", MessageID: "m-7", Key: "orders",
	Value: []byte(`{"id":"o-1","amount":1.50,"customer":{"name":"Ada <a@b>","tier":"gold"},"lines":[{"sku":"p1"},{"sku":"p2"}]}`),
}

func TestTemplateExecute(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{{.Destination}} {{.Seq}} {{.IdempotencyKey}} {{.MessageID}} {{.Key}}`, `audit 42 rs1/audit/42 m-7 orders`},
		{`{{.Value}}`, string(order.Value)},
		{`{"key": {{json .Key}}, "order": {{.Value}}}`, `{"key": "orders", "order": ` + string(order.Value) + `}`},
		{`{{.Object.id}} {{.Object.amount}} {{.Object.customer.name}}`, `o-1 1.50 Ada <a@b>`},
		{`{{json .Object.customer}}`, `{"name":"Ada <a@b>","tier":"gold"}`}, // keys sorted, nothing escaped for HTML
		{`{{json .Object.amount}} {{json .Seq}} {{json .Value}}`, `1.50 42 ` + string(order.Value)},
		{`{{range .Object.lines}}{{.sku}};{{end}}`, `p1;p2;`},
		{`{{range $k, $v := .Object.customer}}{{$k}}={{$v}},{{end}}`, `name=Ada <a@b>,tier=gold,`},
		{`{{with index .Object "missing"}}{{.}}{{else}}none{{end}}`, `none`},
		{`{{if eq .Key "orders"}}{{$.Object.id}}{{end}}`, `o-1`},
		{`{{printf "%s-%05d" .Key .Seq}}`, `orders-00042`},
		{`{{len .Object.lines}} {{slice .Key 0 3}} {{urlquery .Object.customer.name}} {{html .Object.customer.name}} {{js "a'b"}}`, `2 ord Ada+%3Ca%40b%3E Ada &lt;a@b&gt; a\'b`},
		{`{{print .Seq .Seq "x" 1}} {{println .Key 2}}`, "42 42x1 orders 2\n"},
		{``, ``},
	} {
		tm, err := ParseTemplate("body", tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		got, err := tm.Execute(order)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.src, got, err, tc.want)
		}
		if again, _ := tm.Execute(order); string(again) != string(got) {
			t.Errorf("%s: rendered %q, then %q", tc.src, got, again)
		}
	}
}

func TestTemplateExecuteErrors(t *testing.T) {
	big := &Message{Value: []byte(`"` + strings.Repeat("x", 3<<20) + `"`)}
	for _, tc := range []struct {
		src  string
		m    *Message
		want string
	}{
		{`{{.Object.missing}}`, order, `template: body:1:9: executing "body" at <.Object.missing>: map has no entry for key "missing"`},
		{`{{.Object.id.x}}`, order, `template: body:1:9: executing "body" at <.Object.id.x>: can't evaluate field x in type interface {}`},
		{`{{.Object.id}}`, &Message{Value: []byte(`{"id":`)}, `template: body:1:9: executing "body" at <.Object.id>: error calling Object: the value is not JSON: unexpected EOF`},
		{`{{.Object}}`, &Message{Value: []byte(`{} {}`)}, `template: body:1:2: executing "body" at <.Object>: error calling Object: the value is not one JSON value`},
		{`{{json .Value}}`, &Message{Value: []byte(`{`)}, `template: body:1:2: executing "body" at <json .Value>: error calling json: json: error calling MarshalJSON for type connector.jsonText: unexpected end of JSON input`},
		// The bounds.
		{`{{.Value}}{{.Value}}`, big, `template: body: renders over 4 MiB (MaxRendered)`},
		{`{{range 100001}}{{end}}`, order, `template: body:1:8: executing "body" at <_connector_loop $>: error calling _connector_loop: over 100000 range iterations (MaxIterations)`},
		{`{{range .Seq}}{{range $.Seq}}{{end}}{{end}}`, &Message{Seq: 1000}, `template: body:1:22: executing "body" at <_connector_loop $>: error calling _connector_loop: over 100000 range iterations (MaxIterations)`},
		{`{{$ = 1}}{{range 1}}{{end}}`, order, `template: body:1:17: executing "body" at <_connector_loop $>: error calling _connector_loop: $ was assigned: a template may not assign $`},
		{`{{len (printf "%s%s" .Value .Value)}}`, big, `template: body:1:7: executing "body" at <printf "%s%s" .Value .Value>: error calling printf: the result is over 4 MiB (MaxRendered)`},
		{`{{len (print .Value .Value)}}`, big, `template: body:1:7: executing "body" at <print .Value .Value>: error calling print: the result is over 4 MiB (MaxRendered)`},
		{`{{len (println .Value .Value)}}`, big, `template: body:1:7: executing "body" at <println .Value .Value>: error calling println: the result is over 4 MiB (MaxRendered)`},
		{`{{len (html .Value .Value)}}`, big, `template: body:1:7: executing "body" at <html .Value .Value>: error calling html: the result is over 4 MiB (MaxRendered)`},
		{`{{len (printf "" .Value .Value)}}`, big, `template: body:1:7: executing "body" at <printf "" .Value .Value>: error calling printf: the result is over 4 MiB (MaxRendered)`},
		{`{{printf "%*d" 5 1}}`, order, `template: body:1:2: executing "body" at <printf "%*d" 5 1>: error calling printf: printf: "%*d": a template's printf takes no * or [n]`},
		{`{{printf "%p" $}}`, order, `template: body:1:2: executing "body" at <printf "%p" $>: error calling printf: printf: "%p": a template's printf has no %p: an address differs from run to run`},
		{`{{printf .Key .Object}}`, &Message{Key: "%#p", Value: []byte(`{}`)}, `template: body:1:2: executing "body" at <printf .Key .Object>: error calling printf: printf: "%#p": a template's printf has no %p: an address differs from run to run`},
		{`{{printf "%[2]d" 5 1}}`, order, `template: body:1:2: executing "body" at <printf "%[2]d" 5 1>: error calling printf: printf: "%[2]d": a template's printf takes no * or [n]`},
	} {
		tm, err := ParseTemplate("body", tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		got, err := tm.Execute(tc.m)
		if err == nil || err.Error() != tc.want || got != nil {
			t.Errorf("%s: got %.40q, %v\nwant error %s", tc.src, got, err, tc.want)
		}
	}
	// Exactly MaxRendered bytes render.
	exact := &Message{Value: []byte(strings.Repeat("x", MaxRendered))}
	tm, _ := ParseTemplate("body", "{{.Value}}")
	if got, err := tm.Execute(exact); err != nil || len(got) != MaxRendered {
		t.Errorf("%d bytes: %d, %v", MaxRendered, len(got), err)
	}
	// MaxIterations iterations run.
	tm, _ = ParseTemplate("body", "{{range 100000}}{{end}}")
	if _, err := tm.Execute(order); err != nil {
		t.Errorf("%d iterations: %v", MaxIterations, err)
	}
}

// The bounded print functions say what fmt's do.
func TestBoundedPrint(t *testing.T) {
	type pair struct{ A, B int }
	operands := [][]any{
		nil, {"a"}, {1}, {"a", "b"}, {1, 2}, {"a", 1, 2, "b", 3}, {nil, nil}, {1.5, true, "x"},
		{map[string]any{"b": 1, "a": []any{2}}}, {pair{1, 2}, &pair{3, 4}}, {jsonText(`{"a":1}`), 2},
	}
	for _, args := range operands {
		if got, err := boundedPrint(args...); err != nil || got != fmt.Sprint(args...) {
			t.Errorf("print %v: %q, %v; fmt says %q", args, got, err, fmt.Sprint(args...))
		}
		if got, err := boundedPrintln(args...); err != nil || got != fmt.Sprintln(args...) {
			t.Errorf("println %v: %q, %v; fmt says %q", args, got, err, fmt.Sprintln(args...))
		}
	}
	for _, tc := range []struct {
		format string
		args   []any
	}{
		{"", nil}, {"plain", nil}, {"%d", []any{3}}, {"%d%%", []any{3}}, {"%5.2f|%-4s|%+d|%#x|% d|%05d", []any{3.14159, "ab", 4, 255, 7, 42}},
		{"%s and %s", []any{"a"}}, {"%s", []any{"a", 2, nil}}, {"%d", []any{"x"}}, {"%", nil}, {"100%", []any{1}},
		{"%v %q %T", []any{map[string]int{"b": 2, "a": 1}, "q", 1.0}}, {"é%sé", []any{"ü"}}, {"%é", []any{1}}, {"%-", nil},
		{"%!", []any{1}}, {"%5%", nil}, {"%.3s", []any{"abcdef"}}, {"%x", []any{jsonText("hi")}},
	} {
		want := fmt.Sprintf(tc.format, tc.args...)
		if got, err := boundedPrintf(tc.format, tc.args...); err != nil || got != want {
			t.Errorf("printf %q %v: %q, %v; fmt says %q", tc.format, tc.args, got, err, want)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"{{", `invalid template: unclosed action`},
		{"a\nb\n{{.Key", `invalid template: line 3: unclosed action`},
		{"{{nope}}", `invalid template: function "nope" not defined`},
		{"{{define \"x\"}}{{end}}", `invalid template: it may not define templates`},
		{"{{template \"x\"}}", `invalid template: it may not call templates ({{template "x"}})`},
		{"{{.Vlaue}}", `invalid template: .Vlaue: the data has no field Vlaue (did you mean Value?)`},
		{"{{with .Key}}{{.Anything}}{{end}}{{$.Obejct.x}}", `invalid template: $.Obejct.x: the data has no field Obejct (did you mean Object?)`},
		{strings.Repeat(" ", MaxTemplate+1), `the template is 16385 bytes, over the limit of 16 KiB`},
	} {
		if tm, err := ParseTemplate("body", tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%.30q: %v, %v; want %s", tc.src, tm, err, tc.want)
		}
	}
}
