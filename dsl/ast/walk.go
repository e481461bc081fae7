package ast

// Inspect walks the tree rooted at node depth-first, in source order:
// it calls f(n) for each node n and, if f returns true, walks n's
// children. Nodes are the pointer types of this package (*File, *Rule,
// *Trigger, *Ident, *Expr, *Template, *Arg, *EntityValue, …); nil
// children are skipped. Template holes are visited as *Expr after their
// *Template.
func Inspect(node any, f func(any) bool) {
	if isNil(node) || !f(node) {
		return
	}
	walk := func(n any) { Inspect(n, f) }
	switch n := node.(type) {
	case *File:
		for _, d := range n.Decls {
			walk(d)
		}
	case *Rule:
		for _, t := range n.Triggers {
			walk(t)
		}
		walk(n.Body)
	case *Trigger:
		walk(n.Name)
		walk(n.Keyword)
		walk(n.Regex)
	case *Flow:
		walk(n.Name)
		for _, on := range n.On {
			walk(on)
		}
		for _, s := range n.Body {
			walk(s)
		}
	case *On:
		for _, c := range n.Doc {
			walk(c)
		}
		for _, t := range n.Triggers {
			walk(t)
		}
	case *Entity:
		walk(n.Name)
		walk(n.Regex)
		for _, v := range n.Values {
			walk(v)
		}
	case *EntityValue:
		for _, c := range n.Doc {
			walk(c)
		}
		walk(n.Value)
		for _, s := range n.Synonyms {
			walk(s)
		}
	case *Var:
		walk(n.Name)
		walk(n.Value)
	case *Say:
		walk(n.Text)
	case *Ask:
		walk(n.Text)
	case *Template:
		for _, p := range n.Parts {
			walk(p.Expr)
		}
	case *Set:
		walk(n.Name)
		walk(n.Value)
	case *Goto:
		walk(n.Flow)
	case *Handoff:
		walk(n.Queue)
	case *Generate:
		walk(n.Prompt)
		walk(n.Route)
	case *If:
		for _, c := range n.Clauses {
			walk(c)
		}
		for _, s := range n.Else {
			walk(s)
		}
	case *Clause:
		walk(n.Cond)
		for _, s := range n.Body {
			walk(s)
		}
	case *Slot:
		walk(n.Name)
		walk(n.Regex)
		walk(n.Type)
		walk(n.Where)
		walk(n.Ask)
		walk(n.RetryText)
	case *Call:
		walk(n.Service)
		walk(n.Op)
		for _, a := range n.Args {
			walk(a)
		}
		walk(n.Result)
		walk(n.Timeout)
		for _, s := range n.OnError {
			walk(s)
		}
	case *Arg:
		walk(n.Name)
		walk(n.Value)
	}
}

// isNil reports whether n is nil or a nil pointer of a node type.
func isNil(n any) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *File:
		return n == nil
	case *Rule:
		return n == nil
	case *Trigger:
		return n == nil
	case *Flow:
		return n == nil
	case *On:
		return n == nil
	case *Entity:
		return n == nil
	case *EntityValue:
		return n == nil
	case *Var:
		return n == nil
	case *Say:
		return n == nil
	case *Ask:
		return n == nil
	case *Template:
		return n == nil
	case *Set:
		return n == nil
	case *Goto:
		return n == nil
	case *Handoff:
		return n == nil
	case *Generate:
		return n == nil
	case *End:
		return n == nil
	case *If:
		return n == nil
	case *Clause:
		return n == nil
	case *Slot:
		return n == nil
	case *Call:
		return n == nil
	case *Arg:
		return n == nil
	case *Ident:
		return n == nil
	case *String:
		return n == nil
	case *Regex:
		return n == nil
	case *Expr:
		return n == nil
	case *Duration:
		return n == nil
	case *Comment:
		return n == nil
	}
	return false
}
