// Package globals finds package-level mutable state in Go source: a
// package-level variable that is assigned, incremented or decremented, or
// whose address is taken, anywhere but in its own declaration, or that is
// declared with a type made to be changed through its methods (sync.Map,
// sync.Mutex, sync/atomic). Read-only tables, sentinel errors, embedded
// files and sync.Once values pass. The check is syntactic (go/ast,
// no type checking), which is enough for the patterns it forbids:
//
//	var cache = map[string]int{}   // fine while only read
//	func set() { cache["x"] = 1 }  // found: assigned
//	func swap() { stdin = r }      // found: assigned
//	func count() { n++ }           // found: incremented
//	func ref() *int { return &n }  // found: address taken
//	var seen sync.Map              // found: of type sync.Map
//
// It is run over the whole workspace by this package's test.
package globals

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Finding is one use of package-level state outside its declaration.
type Finding struct {
	Pos  token.Position
	Name string // the variable, as written (pkg.Var for another package's)
	What string // "assigned", "incremented", "address taken", "of type sync.Map", ...
}

func (f Finding) String() string {
	if strings.HasPrefix(f.What, "of type ") {
		return fmt.Sprintf("%s: package-level variable %s is %s, which changes through its methods", f.Pos, f.Name, f.What)
	}
	return fmt.Sprintf("%s: package-level variable %s %s outside its declaration", f.Pos, f.Name, f.What)
}

// pkgKey names a package: its directory and package name (a directory holds
// a package and its external _test package).
type pkgKey struct{ dir, name string }

// source is one parsed file.
type source struct {
	path string
	file *ast.File
	key  pkgKey
}

// Check parses every non-generated .go file under the given roots
// (skipping testdata, vendor and hidden directories) and reports the uses of
// package-level variables outside their declarations. modules maps a
// directory of a go.mod to its module path, to recognise another package's
// variables (pkg.Var = ...); it may be nil.
func Check(roots []string, modules map[string]string) ([]Finding, error) {
	fset := token.NewFileSet()
	var files []source
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				name := d.Name()
				if path != root && (name == "testdata" || name == "vendor" || name == "node_modules" || strings.HasPrefix(name, ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			if ast.IsGenerated(f) {
				return nil
			}
			files = append(files, source{path: path, file: f, key: pkgKey{filepath.Dir(path), f.Name.Name}})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	// The package-level variables of every package, and of every import
	// path (for pkg.Var from another package).
	vars := map[pkgKey]map[string]bool{}
	byPath := map[string]map[string]bool{}
	for _, s := range files {
		if vars[s.key] == nil {
			vars[s.key] = map[string]bool{}
		}
		for _, name := range packageVars(s.file) {
			vars[s.key][name] = true
			if p := importPath(s.key.dir, modules); p != "" && !strings.HasSuffix(s.key.name, "_test") {
				if byPath[p] == nil {
					byPath[p] = map[string]bool{}
				}
				byPath[p][name] = true
			}
		}
	}

	var out []Finding
	for _, s := range files {
		imports := map[string]string{} // local name -> path
		for _, im := range s.file.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = p
		}
		mine := vars[s.key]
		// isGlobal: e names (the root of) a package-level variable; the
		// name to report.
		isGlobal := func(e ast.Expr) (string, bool) {
			id, sel := root(e)
			if id == nil {
				return "", false
			}
			if sel != nil && id.Obj == nil {
				if p, ok := imports[id.Name]; ok && !mine[id.Name] {
					return id.Name + "." + sel.Sel.Name, byPath[p][sel.Sel.Name]
				}
			}
			if id.Obj != nil { // declared in this file: a package-level var?
				return id.Name, id.Obj.Kind == ast.Var && topLevel(s.file, id.Obj)
			}
			// Unresolved in this file: another file's package-level name.
			return id.Name, mine[id.Name]
		}
		report := func(e ast.Expr, what string) {
			if name, ok := isGlobal(e); ok {
				out = append(out, Finding{Pos: fset.Position(e.Pos()), Name: name, What: what})
			}
		}
		// A declaration (var x = v) is no assignment; everything else is
		// looked at, the initial values of other variables included.
		ast.Inspect(s.file, inspectAll(report))
		// A variable of a type that exists to be changed through its
		// methods (sync.Map, sync.Mutex, atomic.Int64, ...; not sync.Once)
		// is mutable state even though it is never assigned.
		for _, spec := range packageSpecs(s.file) {
			sel, ok := spec.Type.(*ast.SelectorExpr)
			if !ok {
				continue
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				continue
			}
			if p := imports[pkg.Name]; (p == "sync" && sel.Sel.Name != "Once") || p == "sync/atomic" {
				for _, n := range spec.Names {
					out = append(out, Finding{Pos: fset.Position(n.Pos()), Name: n.Name, What: "of type " + pkg.Name + "." + sel.Sel.Name})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.Pos.Filename, b.Pos.Filename); c != 0 {
			return c
		}
		return a.Pos.Offset - b.Pos.Offset
	})
	return out, nil
}

// inspectAll reports the mutations found in one node.
func inspectAll(report func(ast.Expr, string)) func(ast.Node) bool {
	return func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, lhs := range n.Lhs {
					report(lhs, "assigned")
				}
			}
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if e != nil {
						report(e, "assigned")
					}
				}
			}
		case *ast.IncDecStmt:
			report(n.X, "incremented")
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				report(n.X, "address taken")
			}
		}
		return true
	}
}

// root is the variable an assignable expression starts from (x in x.f[i]),
// with the first selector when the root is a package name (pkg.Var.f).
func root(e ast.Expr) (*ast.Ident, *ast.SelectorExpr) {
	var first *ast.SelectorExpr
	for {
		switch x := e.(type) {
		case *ast.Ident:
			if x.Name == "_" {
				return nil, nil
			}
			return x, first
		case *ast.SelectorExpr:
			first = x
			e = x.X
		case *ast.IndexExpr:
			first, e = nil, x.X
		case *ast.IndexListExpr:
			first, e = nil, x.X
		case *ast.StarExpr:
			first, e = nil, x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return nil, nil
		}
	}
}

// packageSpecs are the top-level var specs of f.
func packageSpecs(f *ast.File) []*ast.ValueSpec {
	var specs []*ast.ValueSpec
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, spec := range g.Specs {
				specs = append(specs, spec.(*ast.ValueSpec))
			}
		}
	}
	return specs
}

// packageVars are the names a file declares with a top-level var.
func packageVars(f *ast.File) []string {
	var names []string
	for _, spec := range packageSpecs(f) {
		for _, n := range spec.Names {
			if n.Name != "_" {
				names = append(names, n.Name)
			}
		}
	}
	return names
}

// topLevel reports whether obj is declared by a top-level var of f.
func topLevel(f *ast.File, obj *ast.Object) bool {
	spec, ok := obj.Decl.(*ast.ValueSpec)
	if !ok {
		return false
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR && slices.Contains(g.Specs, ast.Spec(spec)) {
			return true
		}
	}
	return false
}

// importPath is the import path of the package in dir, from the nearest
// module in modules ("" when none holds it).
func importPath(dir string, modules map[string]string) string {
	best, path := "", ""
	for mdir, mpath := range modules {
		rel, err := filepath.Rel(mdir, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if len(mdir) > len(best) {
			best, path = mdir, mpath
			if rel != "." {
				path += "/" + filepath.ToSlash(rel)
			}
		}
	}
	return path
}

// Modules reads the go.mod of each directory given: directory -> module path.
func Modules(dirs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
				out[dir] = strings.Trim(strings.TrimSpace(rest), `"`)
				break
			}
		}
	}
	return out, nil
}
