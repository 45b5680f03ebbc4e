package determinism

import (
	"go/ast"
	"go/token"
	"go/types"
	"strconv"

	"golang.org/x/tools/go/ast/edge"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

// rules lists the rule names a //detlint:allow may name.
var rules = []string{
	"goroutine", "channel", "select", "sync", "time", "rand",
	"cryptorand", "maphash", "os", "net", "maprange",
}

// clockFuncs are the functions of package time that read or wait on the
// real clock.
var clockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true,
}

// randConstructors are the functions of the math/rand packages that build a
// generator from an explicit seed instead of using the global source.
var randConstructors = map[string]map[string]bool{
	"math/rand":    {"New": true, "NewSource": true, "NewZipf": true},
	"math/rand/v2": {"New": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true},
}

// osPureFuncs are the functions of package os that only inspect their
// arguments; an in-memory vfs.FS needs them to classify errors and paths.
var osPureFuncs = map[string]bool{
	"IsExist": true, "IsNotExist": true, "IsPermission": true, "IsTimeout": true,
	"IsPathSeparator": true, "NewSyscallError": true,
}

// osProcessVars are the variables of package os that belong to the real
// process. The rest (the Err* errors, Interrupt, Kill) are plain values.
var osProcessVars = map[string]bool{"Stdin": true, "Stdout": true, "Stderr": true, "Args": true}

// diskFuncs are the functions outside package os that touch the real disk.
var diskFuncs = map[string]map[string]bool{
	"io/ioutil":     {"ReadFile": true, "WriteFile": true, "ReadDir": true, "TempDir": true, "TempFile": true},
	"path/filepath": {"Glob": true, "Walk": true, "WalkDir": true, "Abs": true, "EvalSymlinks": true},
}

// mapIterFuncs are the functions of package maps that yield in map order,
// and sortingFuncs the functions of package slices that restore an order.
var (
	mapIterFuncs = map[string]bool{"Keys": true, "Values": true, "All": true}
	sortingFuncs = map[string]bool{"Sorted": true, "SortedFunc": true, "SortedStableFunc": true}
)

// check reports every breach of the rules in the file under cursor file.
func (c *fileChecker) check(file inspector.Cursor) {
	info := c.pass.TypesInfo
	for cur := range file.Preorder(
		(*ast.ImportSpec)(nil), (*ast.GoStmt)(nil), (*ast.SelectStmt)(nil),
		(*ast.ChanType)(nil), (*ast.SendStmt)(nil), (*ast.UnaryExpr)(nil),
		(*ast.RangeStmt)(nil), (*ast.CallExpr)(nil), (*ast.Ident)(nil),
	) {
		switch n := cur.Node().(type) {
		case *ast.ImportSpec:
			c.checkImport(n)
		case *ast.GoStmt:
			c.report(n, "goroutine", "go statement: deterministic code runs only on its node's event loop")
		case *ast.SelectStmt:
			c.report(n, "select", "select statement: deterministic code never waits; use env.After for timeouts")
		case *ast.ChanType:
			c.report(n, "channel", "channel type: nodes talk through env.Send and events, not channels")
		case *ast.SendStmt:
			c.report(n, "channel", "channel send: nodes talk through env.Send and events, not channels")
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				c.report(n, "channel", "channel receive: nodes talk through env.Send and events, not channels")
			}
		case *ast.RangeStmt:
			switch coreType(info.TypeOf(n.X)).(type) {
			case *types.Map:
				c.report(n, "maprange", "range over a map: its order is random; iterate sorted keys or mark the line //detlint:unordered <reason>")
			case *types.Chan:
				c.report(n, "channel", "range over a channel: nodes talk through env.Send and events, not channels")
			}
		case *ast.CallExpr:
			if id, ok := ast.Unparen(n.Fun).(*ast.Ident); ok {
				if b, ok := info.Uses[id].(*types.Builtin); ok && b.Name() == "close" {
					c.report(n, "channel", "close of a channel: nodes talk through env.Send and events, not channels")
				}
			}
		case *ast.Ident:
			c.checkRef(cur)
		}
	}
}

// checkImport reports imports of packages that are forbidden outright,
// because deterministic code has no use for anything in them. Of these,
// crypto/rand and hash/maphash are also reported at every use, since the
// few places that need them (simnet swapping crypto/rand.Reader) should
// say why at each one.
func (c *fileChecker) checkImport(spec *ast.ImportSpec) {
	path, err := strconv.Unquote(spec.Path.Value)
	if err != nil {
		return
	}
	under := func(prefixes ...string) bool { return prefixList(prefixes).contains(path) }
	switch {
	case under("sync"):
		c.report(spec, "sync", "import %q: deterministic code is single-threaded and needs no synchronization", path)
	case path == "crypto/rand":
		c.report(spec, "cryptorand", "import %q: randomness comes from env.Rand()", path)
	case path == "hash/maphash":
		c.report(spec, "maphash", "import %q: its seeds are random in every process", path)
	case under("os/exec", "os/signal", "os/user", "syscall"):
		c.report(spec, "os", "import %q: deterministic code does not touch the real machine", path)
	case path == "net", under("net/http", "net/rpc", "net/smtp", "net/textproto"):
		c.report(spec, "net", "import %q: the network is env.Send", path)
	}
}

// checkRef reports the identifier under cur if it refers to a forbidden
// package-level object. A qualified reference is reported
// from its qualifier on, so that the position points at "time.Now".
func (c *fileChecker) checkRef(cur inspector.Cursor) {
	id := cur.Node().(*ast.Ident)
	obj := c.pass.TypesInfo.Uses[id]
	if obj == nil || obj.Pkg() == nil || obj.Pkg().Scope().Lookup(obj.Name()) != obj {
		return
	}
	rule, why := refRule(obj)
	if rule == "" {
		return
	}
	expr := cur
	if sel, ok := cur.Parent().Node().(*ast.SelectorExpr); ok && sel.Sel == id {
		expr = cur.Parent()
	}
	if rule == "maprange" && isSortedArg(c.pass.TypesInfo, expr) {
		return
	}
	c.report(expr.Node(), rule, "%s.%s %s", obj.Pkg().Name(), obj.Name(), why)
}

// refRule returns the rule that a reference to obj, a package-level object,
// breaks and why, or "" if the reference is fine.
func refRule(obj types.Object) (rule, why string) {
	path, name := obj.Pkg().Path(), obj.Name()
	_, isFunc := obj.(*types.Func)
	switch {
	case path == "time" && clockFuncs[name]:
		return "time", "uses the real clock; use env.Now, or env.After to wait"
	case (path == "math/rand" || path == "math/rand/v2") && isFunc && !randConstructors[path][name]:
		return "rand", "draws from the global random source; use env.Rand()"
	case path == "os" && (isFunc && !osPureFuncs[name] || osProcessVars[name]):
		return "os", "touches the real machine; the disk is env.FS()"
	case path == "crypto/rand":
		return "cryptorand", "reads the machine's randomness; randomness comes from env.Rand()"
	case path == "hash/maphash":
		return "maphash", "is seeded at random in every process"
	case diskFuncs[path][name]:
		return "os", "touches the real disk; the disk is env.FS()"
	case path == "maps" && mapIterFuncs[name]:
		return "maprange", "yields in random order; wrap it in slices.Sorted or mark the line //detlint:unordered <reason>"
	}
	return "", ""
}

// isSortedArg reports whether the expression under cur is called and the
// call is the first argument of slices.Sorted or a sibling, which puts the
// sequence in order before anyone sees it.
func isSortedArg(info *types.Info, cur inspector.Cursor) bool {
	if cur.ParentEdgeKind() != edge.CallExpr_Fun {
		return false
	}
	call := cur.Parent()
	if kind, i := call.ParentEdge(); kind != edge.CallExpr_Args || i != 0 {
		return false
	}
	fn, ok := typeutil.Callee(info, call.Parent().Node().(*ast.CallExpr)).(*types.Func)
	return ok && fn.Pkg() != nil && fn.Pkg().Path() == "slices" && sortingFuncs[fn.Name()]
}

// coreType returns t's underlying type or, for a type parameter, that of
// the first type its constraint lists. Ranging over a type parameter needs
// all those types to share one underlying type, so this is enough to catch
// ranging over a generic ~map.
func coreType(t types.Type) types.Type {
	tp, ok := types.Unalias(t).(*types.TypeParam)
	if !ok {
		return t.Underlying()
	}
	iface := tp.Constraint().Underlying().(*types.Interface)
	for i := range iface.NumEmbeddeds() {
		e := iface.EmbeddedType(i)
		if u, ok := e.(*types.Union); ok {
			e = u.Term(0).Type()
		}
		if _, ok := e.Underlying().(*types.Interface); !ok {
			return e.Underlying()
		}
	}
	return nil
}
