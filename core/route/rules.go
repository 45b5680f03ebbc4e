package route

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Limits on a rules file and on the work of routing one message.
const (
	MaxRules       = 1000    // rules in a file
	MaxDepth       = 8       // condition mappings nested: `when` is 1
	MaxConditions  = 64      // conditions in one rule, nested ones included
	MaxPathSteps   = 16      // steps of a JSON path after $
	MaxPayloadSize = 1 << 20 // bytes of payload a field condition reads; the reason says 1 MiB
	MaxKeys        = 16      // routing keys one rule assigns
	MaxValues      = 64      // values in a connector, header or in list
	MaxNameLen     = 64      // bytes of a rule name or a routing key
)

// Rules is a parsed rules file. It is immutable, and safe to share.
type Rules struct {
	rules []rule
	def   string // "" when there is no default
}

// rule is one entry of the file's rules.
type rule struct {
	name string
	when *cond // nil: every message matches
	keys []string
	stop bool
}

// cond is a condition mapping: every part present must hold.
type cond struct {
	connectors []string // nil: no connector condition
	headers    []headerCond
	fields     []fieldCond
	any        []*cond // nil: no any condition
	not        *cond
}

// headerCond holds when the header has one of the values.
type headerCond struct {
	name   string // lower case
	values []string
}

// fieldCond holds when the value at path passes every check.
type fieldCond struct {
	path   path
	checks []check
}

// check is one operator with its operand.
type check struct {
	op      string
	operand scalar   // eq, ne, prefix, suffix, contains, gt, ge, lt, le
	values  []scalar // in
	exists  bool     // exists
}

// kind is a JSON value's kind, as comparisons see it.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindOther // an object or an array: equal to nothing
)

// scalar is a JSON scalar: an operand, or a payload value to compare.
type scalar struct {
	kind kind
	b    bool
	n    float64
	s    string
}

func (a scalar) equal(b scalar) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindNull:
		return true
	case kindBool:
		return a.b == b.b
	case kindNumber:
		return a.n == b.n
	case kindString:
		return a.s == b.s
	}
	return false
}

// order compares a with b: -1, 0 or 1, and ok false when they are not
// both numbers or both strings.
func (a scalar) order(b scalar) (c int, ok bool) {
	if a.kind != b.kind {
		return 0, false
	}
	switch a.kind {
	case kindNumber:
		if math.IsNaN(a.n) || math.IsNaN(b.n) {
			return 0, false
		}
		switch {
		case a.n < b.n:
			return -1, true
		case a.n > b.n:
			return 1, true
		}
		return 0, true
	case kindString:
		return strings.Compare(a.s, b.s), true
	}
	return 0, false
}

// step is one step of a path: a name, or an index when index >= 0.
type step struct {
	name  string
	index int
}

// path is a parsed JSON path: its text and steps.
type path struct {
	text  string
	steps []step
}

// parsePath reads a path's text, or says what is wrong with it.
func parsePath(text string) (path, string) {
	p := path{text: text}
	if !strings.HasPrefix(text, "$") {
		return p, "a path starts with $"
	}
	i := 1
	if i == len(text) {
		return p, "a path names a field after $, such as $.type"
	}
	for i < len(text) {
		if len(p.steps) == MaxPathSteps {
			return p, "has more than " + strconv.Itoa(MaxPathSteps) + " steps"
		}
		switch text[i] {
		case '.':
			j := i + 1
			for j < len(text) && isNameByte(text[j]) {
				j++
			}
			if j == i+1 {
				return p, "a name after . at offset " + strconv.Itoa(i) + " is letters, digits, _ and - (write [\"...\"] for others)"
			}
			p.steps = append(p.steps, step{name: text[i+1 : j], index: -1})
			i = j
		case '[':
			j := i + 1
			if j < len(text) && text[j] == '"' {
				k := j + 1
				for k < len(text) && text[k] != '"' {
					if text[k] == '\\' {
						k++
					}
					k++
				}
				if k >= len(text) || k+1 >= len(text) || text[k+1] != ']' {
					return p, "unterminated [\" at offset " + strconv.Itoa(i)
				}
				name, err := strconv.Unquote(text[j : k+1])
				if err != nil {
					return p, "the name at offset " + strconv.Itoa(i) + " is no valid quoted string"
				}
				p.steps = append(p.steps, step{name: name, index: -1})
				i = k + 2
				continue
			}
			k := j
			for k < len(text) && text[k] >= '0' && text[k] <= '9' {
				k++
			}
			if k == j || k >= len(text) || text[k] != ']' || k-j > 9 || (text[j] == '0' && k-j > 1) {
				return p, "an index at offset " + strconv.Itoa(i) + " is [N], N an integer from 0, or [\"name\"]"
			}
			n, _ := strconv.Atoi(text[j:k])
			p.steps = append(p.steps, step{index: n})
			i = k + 1
		default:
			return p, "expected . or [ at offset " + strconv.Itoa(i)
		}
	}
	return p, ""
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// lookup returns the value at p in root (a decoded JSON object) and
// whether it exists.
func (p path) lookup(root map[string]any) (any, bool) {
	var v any = root
	for _, s := range p.steps {
		if s.index >= 0 {
			arr, ok := v.([]any)
			if !ok || s.index >= len(arr) {
				return nil, false
			}
			v = arr[s.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[s.name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Keys returns every routing key the rules can assign, the default
// included, sorted and each once.
func (r *Rules) Keys() []string {
	var out []string
	for _, ru := range r.rules {
		out = append(out, ru.keys...)
	}
	if r.def != "" {
		out = append(out, r.def)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Default returns the default routing key, or "" when there is none.
func (r *Rules) Default() string { return r.def }

// Names returns the names of the rules, in order.
func (r *Rules) Names() []string {
	out := make([]string, len(r.rules))
	for i, ru := range r.rules {
		out[i] = ru.name
	}
	return out
}
