package yamlcheck

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// syntaxLine matches the position go.yaml.in/yaml/v3 puts in its syntax
// errors.
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into a line and a message.
func syntaxError(err error) (int, string) {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil && line > 0 {
			return line, "invalid YAML: " + m[2]
		}
	}
	return 1, "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

// Quote quotes a value from the input for a message, cut short when long.
func Quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

// Describe names what a node holds, for "must be X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return Quote(n.Value)
		case "!!null":
			return "null"
		case "!!int", "!!float", "!!bool":
			if len(n.Value) <= 40 {
				return n.Value
			}
		}
		return Quote(n.Value)
	}
	return "nothing"
}

// Hint is the tail of an "unknown name" message: the nearest candidate
// when one is close, else the candidates themselves when they are few.
func Hint(s string, candidates []string) string {
	if best := nearest(s, candidates); best != "" {
		return " (did you mean " + best + "?)"
	}
	if len(candidates) > 0 && len(candidates) <= 10 {
		return " (one of " + strings.Join(candidates, ", ") + ")"
	}
	return ""
}

// nearest returns the candidate closest to s by edit distance, ignoring
// case, or "" when none is close enough to be what the author meant. The
// first of equally close candidates wins.
func nearest(s string, candidates []string) string {
	if len(s) == 0 || len(s) > 64 {
		return ""
	}
	ls := strings.ToLower(s)
	best, bestD := "", -1
	for _, c := range candidates {
		if d := distance(ls, strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	switch {
	case len(s) > 8:
		limit = 3
	case len(s) > 4:
		limit = 2
	}
	if bestD < 0 || bestD > limit || bestD >= len(best) {
		return ""
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost one.
func distance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// ShortDuration writes d as time.Duration does, without its trailing
// zero units (720h, not 720h0m0s), as a file would say it.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
