package catalog

import (
	"reflect"
	"testing"
)

func TestBuiltinCatalogLoads(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"python", "c", "c++", "java", "javascript", "go", "bash"} {
		if c.Find(name) == nil {
			t.Errorf("language %q missing", name)
		}
	}
	if c.Find("py").Name != "python" || c.Find("CPP").Name != "c++" {
		t.Error("aliases do not resolve")
	}
	if got := c.Find("c++").Defaults.CPUTimeMS; got != 1000 {
		t.Errorf("c++ cpu default = %d, want 1000", got)
	}
	if got := c.Find("java").Defaults.CPUTimeMS; got != 3000 {
		t.Errorf("java cpu default = %d, want 3000", got)
	}
}

func TestExpand(t *testing.T) {
	l := &Language{SourceExt: []string{".c"}}
	got := l.Expand([]string{"gcc", "-o", "main", "{sources}", "run:{entry}", "{stem}"}, []string{"prog.c", "util.c", "data.txt"})
	want := []string{"gcc", "-o", "main", "prog.c", "util.c", "run:prog.c", "prog"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": `{"languages":[{"name":"x","oops":1}]}`,
		"no run":        `{"defaults":{"limits":{"cpu_time_ms":1},"max":{"cpu_time_ms":1}},"languages":[{"name":"x","image":"i","entry_file":"m","version":["v"]}]}`,
		"duplicate":     `{"languages":[{"name":"x","image":"i","entry_file":"m","run":["r"],"version":["v"]},{"name":"y","aliases":["x"],"image":"i","entry_file":"m","run":["r"],"version":["v"]}]}`,
		"bad entry":     `{"languages":[{"name":"x","image":"i","entry_file":"../m","run":["r"],"version":["v"]}]}`,
	}
	for name, data := range cases {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
