package wire

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository's root, seen from this package's folder.
const repoRoot = "../.."

func TestCodesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c.Code] {
			t.Errorf("%s is listed twice", c.Code)
		}
		seen[c.Code] = true
		if len(c.Statuses) == 0 {
			t.Errorf("%s has no status", c.Code)
		}
		for _, st := range c.Statuses {
			if st.Status < 400 || st.Status > 599 {
				t.Errorf("%s: status %d is not an error status", c.Code, st.Status)
			}
			if got := TypeFor(st.Status); got != st.Type {
				t.Errorf("%s: TypeFor(%d) = %s, the table says %s", c.Code, st.Status, got, st.Type)
			}
			if !slices.Contains([]string{TypeInvalidRequest, TypeAuthentication, TypePermission, TypeRateLimit, TypeAPI}, st.Type) {
				t.Errorf("%s: %q is not one of OpenAI's error types", c.Code, st.Type)
			}
		}
	}
	// OpenAI answers a request that timed out (408) and an unprocessable one (422) with
	// invalid_request_error; clients retry api_error, which would be wrong for both.
	for status, want := range map[int]string{400: TypeInvalidRequest, 404: TypeInvalidRequest, 408: TypeInvalidRequest,
		413: TypeInvalidRequest, 422: TypeInvalidRequest, 401: TypeAuthentication, 403: TypePermission, 429: TypeRateLimit,
		500: TypeAPI, 502: TypeAPI, 503: TypeAPI, 504: TypeAPI, 418: TypeAPI} {
		if got := TypeFor(status); got != want {
			t.Errorf("TypeFor(%d) = %s, want %s", status, got, want)
		}
	}
}

// TestCodeConstantsAreInTable checks that every Code constant of this package is in Codes
// and every code of Codes has its constant, so the constants are the whole vocabulary.
func TestCodeConstantsAreInTable(t *testing.T) {
	consts := codeConstants(t)
	inTable := map[string]bool{}
	for _, c := range Codes {
		inTable[c.Code] = true
	}
	byValue := map[string]string{}
	for name, v := range consts {
		if !inTable[v] {
			t.Errorf("constant %s = %q is not in Codes", name, v)
		}
		if other, ok := byValue[v]; ok {
			t.Errorf("constants %s and %s are both %q", name, other, v)
		}
		byValue[v] = name
	}
	for _, c := range Codes {
		if byValue[c.Code] == "" {
			t.Errorf("code %q of Codes has no Code constant", c.Code)
		}
	}
}

// codeConstants parses this package's non-test files for the constants named Code*.
func codeConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, spec := range fileConsts(f) {
			if !strings.HasPrefix(name, "Code") {
				continue
			}
			lit, ok := spec.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("constant %s is not a string literal", name)
				continue
			}
			v, _ := strconv.Unquote(lit.Value)
			out[name] = v
		}
	}
	if len(out) == 0 {
		t.Fatal("found no Code constants")
	}
	return out
}

// TestCodesMatchHTTPDoc checks api/http.md's error table against Codes, both ways: the same
// codes, each with the same statuses and types in the same order.
func TestCodesMatchHTTPDoc(t *testing.T) {
	doc := docErrorTable(t, filepath.Join(repoRoot, "api", "http.md"))
	for _, c := range Codes {
		got, ok := doc[c.Code]
		if !ok {
			t.Errorf("api/http.md does not list %s", c.Code)
			continue
		}
		if !slices.Equal(got, c.Statuses) {
			t.Errorf("api/http.md gives %s the statuses %v, Codes %v", c.Code, got, c.Statuses)
		}
		delete(doc, c.Code)
	}
	for code := range doc {
		t.Errorf("api/http.md lists %s, which Codes does not have", code)
	}
}

var (
	statusRE  = regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)
	errTypeRE = regexp.MustCompile(`\b[a-z_]+_error\b`)
	codeRE    = regexp.MustCompile("`([a-z_]+)`")
)

// docErrorTable reads the table under "## Errors" of api/http.md: one row per code, with the
// statuses in the second cell and their types, in the same order, in the third.
func docErrorTable(t *testing.T, path string) map[string][]StatusType {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]StatusType{}
	section, header := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			section = line == "## Errors"
			continue
		}
		if !section || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("api/http.md error table row with %d cells: %s", len(cells), line)
		}
		if !header { // the header and the separator
			header = strings.Contains(line, "---")
			continue
		}
		statuses := statusRE.FindAllString(cells[1], -1)
		types := errTypeRE.FindAllString(cells[2], -1)
		codes := codeRE.FindAllStringSubmatch(cells[3], -1)
		if len(codes) != 1 || len(statuses) == 0 || len(statuses) != len(types) {
			t.Errorf("api/http.md error table: want one code and one type per status in: %s", line)
			continue
		}
		var sts []StatusType
		for i, s := range statuses {
			n, _ := strconv.Atoi(s)
			sts = append(sts, StatusType{n, types[i]})
		}
		code := codes[0][1]
		if _, dup := out[code]; dup {
			t.Errorf("api/http.md lists %s twice", code)
		}
		out[code] = sts
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("api/http.md: no error table under ## Errors")
	}
	return out
}

// TestHostSendsOnlyTableCodes scans the router's Go source (host/, test files excluded) for
// every code given to NewError, put in an Error literal, or written to a field named Code
// or code (an Error's, or a table's that builds errors later), and fails when one is a
// string literal, or a constant that is not one of this package's Code constants (directly
// or through another constant). Codes computed at run time (a parameter, a table's field)
// cannot be followed here; the places they are written are checked instead.
func TestHostSendsOnlyTableCodes(t *testing.T) {
	module := modulePath(t)
	wirePath := module + "/host/wire"
	inTable := map[string]bool{}
	for _, c := range Codes {
		inTable[c.Code] = true
	}
	fset := token.NewFileSet()
	pkgs := map[string]*srcPackage{} // by import path
	hostDir := filepath.Join(repoRoot, "host")
	err := filepath.WalkDir(hostDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, filepath.Dir(path))
		ip := module + "/" + filepath.ToSlash(rel)
		p := pkgs[ip]
		if p == nil {
			p = &srcPackage{path: ip, consts: map[string]constDef{}}
			pkgs[ip] = p
		}
		sf := &srcFile{f: f, pkg: p, imports: fileImports(f)}
		p.files = append(p.files, sf)
		for name, v := range fileConsts(f) {
			p.consts[name] = constDef{value: v, file: sf}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pkgs[wirePath] == nil {
		t.Fatalf("did not find %s under %s", wirePath, hostDir)
	}

	// resolve follows a code expression to its string value. dynamic is true when it is
	// not a constant; bad says what is wrong with it.
	var resolve func(e ast.Expr, in *srcFile, depth int) (dynamic bool, bad string)
	resolve = func(e ast.Expr, in *srcFile, depth int) (bool, string) {
		if depth > 8 {
			return false, "a constant defined in a loop"
		}
		var pkg *srcPackage
		var name string
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				return true, "" // not a code: some other field named code
			}
			if in.pkg.path == wirePath && depth > 0 {
				v, _ := strconv.Unquote(x.Value)
				if !inTable[v] {
					return false, "wire constant " + x.Value + " is not in wire.Codes"
				}
				return false, ""
			}
			return false, "the string literal " + x.Value + ": use a wire.Code* constant"
		case *ast.ParenExpr:
			return resolve(x.X, in, depth)
		case *ast.Ident:
			pkg, name = in.pkg, x.Name
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok || in.imports[id.Name] == "" {
				return true, "" // a field or method: computed at run time
			}
			pkg, name = pkgs[in.imports[id.Name]], x.Sel.Name
			if pkg == nil {
				return true, "" // another module's package: not a code constant
			}
		default:
			return true, ""
		}
		c, ok := pkg.consts[name]
		if !ok {
			return true, "" // a variable or a parameter
		}
		dyn, bad := resolve(c.value, c.file, depth+1)
		if bad != "" && pkg.path != wirePath && !strings.Contains(bad, "wire constant") {
			bad = "constant " + name + " of " + strings.TrimPrefix(pkg.path, module+"/") + " is " + strings.TrimPrefix(bad, "the ")
		}
		return dyn, bad
	}

	sites := 0
	check := func(sf *srcFile, e ast.Expr, what string) {
		sites++
		if _, bad := resolve(e, sf, 0); bad != "" {
			pos := fset.Position(e.Pos())
			rel, _ := filepath.Rel(repoRoot, pos.Filename)
			t.Errorf("%s:%d: %s: %s", filepath.ToSlash(rel), pos.Line, what, bad)
		}
	}
	for _, p := range pkgs {
		inWire := p.path == wirePath
		for _, sf := range p.files {
			// isWire reports whether e names the wire package's identifier name.
			isWire := func(e ast.Expr, name string) bool {
				switch x := e.(type) {
				case *ast.Ident:
					return inWire && x.Name == name
				case *ast.SelectorExpr:
					id, ok := x.X.(*ast.Ident)
					return ok && sf.imports[id.Name] == wirePath && x.Sel.Name == name
				}
				return false
			}
			ast.Inspect(sf.f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					if isWire(x.Fun, "NewError") && len(x.Args) >= 2 {
						check(sf, x.Args[1], "NewError's code")
					}
				case *ast.CompositeLit:
					wireErr := isWire(x.Type, "Error")
					for i, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if id, ok := kv.Key.(*ast.Ident); ok && (id.Name == "Code" && wireErr || isCodeField(id.Name) && !wireErr) {
								check(sf, kv.Value, "field "+id.Name)
							}
						} else if wireErr && i == 2 { // Status, Type, Code, ...
							check(sf, el, "Error's Code")
						}
					}
				case *ast.AssignStmt:
					// x.Code = ... (or x.code, a policy table's field): without types the
					// receiver is not known, so every field of that name is judged.
					if len(x.Rhs) != len(x.Lhs) {
						return true
					}
					for i, lhs := range x.Lhs {
						if sel, ok := lhs.(*ast.SelectorExpr); ok && isCodeField(sel.Sel.Name) {
							check(sf, x.Rhs[i], "assigned "+sel.Sel.Name)
						}
					}
				}
				return true
			})
		}
	}
	// A scanner that finds nothing proves nothing: the router builds dozens of errors.
	if sites < 15 {
		t.Fatalf("found only %d places that set an error code under host/: is the scan broken?", sites)
	}
}

// isCodeField reports whether a struct field of this name holds an error code: the
// envelope's Code, and the code fields of the tables that build errors later.
func isCodeField(name string) bool { return name == "Code" || name == "code" }

type srcPackage struct {
	path   string
	files  []*srcFile
	consts map[string]constDef
}

type srcFile struct {
	f       *ast.File
	pkg     *srcPackage
	imports map[string]string // local name → import path
}

type constDef struct {
	value ast.Expr
	file  *srcFile
}

// fileConsts returns the file's constants that have an explicit value.
func fileConsts(f *ast.File) map[string]ast.Expr {
	out := map[string]ast.Expr{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					out[n.Name] = vs.Values[i]
				}
			}
		}
	}
	// Constants declared inside functions are constants too.
	ast.Inspect(f, func(n ast.Node) bool {
		ds, ok := n.(*ast.DeclStmt)
		if !ok {
			return true
		}
		if gd, ok := ds.Decl.(*ast.GenDecl); ok && gd.Tok == token.CONST {
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						out[n.Name] = vs.Values[i]
					}
				}
			}
		}
		return true
	})
	return out
}

func fileImports(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		out[name] = p
	}
	return out
}

func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}
