package graphql

import (
	"fmt"
	"strings"

	"github.com/shoaldb/shoal/core/api"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// measure computes the operation's depth and cost before it runs and
// refuses it, with an error at the first field over a limit, when either
// is over its limit. The package doc has the cost model.
func (e *executor) measure(op *ast.OperationDefinition) *gqlerror.Error {
	m := meter{e: e}
	m.walk(op.SelectionSet, 1, 1)
	if m.err != nil {
		return m.err
	}
	if m.cost > int64(e.lim.MaxCost) {
		return gqlerror.ErrorPosf(op.Position, "the query costs more than %d, the limit (each field 1, a scan what it may read, times the first of every connection above it)", e.lim.MaxCost)
	}
	return nil
}

type meter struct {
	e      *executor
	cost   int64
	visits int
	err    *gqlerror.Error
}

// walk adds the cost of a selection whose fields are depth deep and
// resolved mult times.
func (m *meter) walk(sel ast.SelectionSet, depth int, mult int64) {
	for _, s := range sel {
		if m.err != nil {
			return
		}
		m.visits++
		if m.visits > maxVisits {
			m.err = gqlerror.ErrorPosf(s.GetPosition(), "the query has more than %d fields, fragments spread", maxVisits)
			return
		}
		switch s := s.(type) {
		case *ast.Field:
			if depth > m.e.lim.MaxDepth {
				m.err = gqlerror.ErrorPosf(s.Position, "field %s is %d deep, over the limit of %d", s.Name, depth, m.e.lim.MaxDepth)
				return
			}
			m.cost = addCapped(m.cost, mulCapped(mult, 1+m.scan(s)))
			if m.cost > int64(m.e.lim.MaxCost) {
				m.err = gqlerror.ErrorPosf(s.Position, "the query costs more than %d, the limit (each field 1, a scan what it may read, times the first of every connection above it)", m.e.lim.MaxCost)
				return
			}
			n, err := m.multiplier(s)
			if err != nil {
				m.err = gqlerror.ErrorPosf(s.Position, "%s", err)
				return
			}
			m.walk(s.SelectionSet, depth+1, mulCapped(mult, n))
		case *ast.InlineFragment:
			m.walk(s.SelectionSet, depth, mult)
		case *ast.FragmentSpread:
			if def := m.e.doc.Fragments.ForName(s.Name); def != nil {
				m.walk(def.SelectionSet, depth, mult)
			}
		}
	}
}

// multiplier is how many times a field's selection is resolved: a
// connection's first (default DefaultFirst), a history's kept versions,
// once for anything else.
func (m *meter) multiplier(f *ast.Field) (int64, error) {
	if f.Definition == nil {
		return 1, nil
	}
	if f.Definition.Arguments.ForName("first") != nil {
		n := int64(DefaultFirst)
		if a := f.Arguments.ForName("first"); a != nil {
			if v, ok := m.e.literal(a.Value); ok && v != nil {
				x, ok := toInt64(v)
				if !ok || x < 0 || x > MaxFirst {
					return 0, fmt.Errorf("first: %s: want 0 to %d", describeInput(v), MaxFirst)
				}
				n = x
			}
		}
		return n, nil
	}
	if f.Name == "_history" && f.ObjectDefinition != nil {
		if t, ok := m.e.m.Type(f.ObjectDefinition.Name); ok {
			return int64(max(t.History, 1)), nil
		}
	}
	return 1, nil
}

// scan is what a field costs beyond its 1: a listing whose where storage
// cannot evaluate whole (an or, or more filters than a listing takes)
// reads batches of maxBatch in maxRounds calls, whatever its first; so
// is a listing ordered by an index charged, whatever its where, since
// past the index's last entry its calls read every object of the type to
// find those without one, and may come back empty (kv.ListOrder); a
// listing in key order that reads the entries of one key of an index
// (api.Plan) reads no more than one by key, and costs as much; _sdl
// costs its size in KiB.
func (m *meter) scan(f *ast.Field) int64 {
	if f.Definition == nil {
		return 0
	}
	if f.Name == "_sdl" {
		return int64(len(m.e.s.sdl) >> 10)
	}
	if m.e.s.isService(f) {
		return ServiceCost
	}
	if f.Definition.Arguments.ForName("orderBy") == nil {
		return 0
	}
	args := m.e.args(f)
	if o, ok := args["orderBy"].(map[string]any); ok {
		if by, ok := o["by"].(string); ok && by != keySort {
			return maxRounds * maxBatch
		}
	}
	t, ok := m.e.m.Type(strings.TrimSuffix(f.Definition.Type.Name(), "Connection"))
	if v := args["where"]; ok && v != nil {
		terms := 0
		// A where that does not compile fails the field before any read.
		if w, err := compileWhere(t, v, 0, &terms); err == nil && (w.residual() || len(w.conjunction(nil)) > api.MaxFilters) {
			return maxRounds * maxBatch
		}
	}
	return 0
}

const costCap = 1 << 40

func addCapped(a, b int64) int64 { return min(a+b, costCap) }

func mulCapped(a, b int64) int64 {
	if a != 0 && b > costCap/a {
		return costCap
	}
	return min(a*b, costCap)
}
