package benchmark

import "testing"

// TestCanonicalJSON: the gateway writes expected outputs of call problems
// as the driver's canon() writes Python values. The wants are what
// CPython 3 printed through the driver for the same JSON.
func TestCanonicalJSON(t *testing.T) {
	in := `[1, 2.0, 2.5, 1e-7, 1e22, 12345678901234567890, -0.0, "é\u2028\ud83d\ude00\u007f\"\\\n", {"b":1,"a":[true,null]}, 0.1, 123456.789e3, 1.5e16, 9007199254740993.0]`
	want := `[1,2,2.5,1e-07,1e+22,12345678901234567890,0,"\u00e9\u2028\ud83d\ude00\u007f\"\\\n",{"a":[true,null],"b":1},0.1,123456789,1.5e+16,9007199254740992.0]`
	var v any
	if err := unmarshalNumbers([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if got := canonicalJSON(v); got != want {
		t.Errorf("canonicalJSON\n got %s\nwant %s", got, want)
	}
}
