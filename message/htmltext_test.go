package message

import "testing"

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"inline flows", "<p>Clinic <b>moved</b> to <i>room 4</i>.</p>", "Clinic moved to room 4."},
		{"paragraphs", "<p>one</p><p>two</p>", "one\ntwo"},
		{"br", "line one<br>line two<br/>", "line one\nline two"},
		{"heading and nbsp", "<h1>Staff&nbsp;bulletin</h1><p>x</p>", "Staff bulletin\nx"},
		{"entities", "<p>A &amp; E &lt;urgent&gt;</p>", "A & E <urgent>"},
		{"script style head dropped", "<html><head><title>T</title><style>p{}</style></head><body><script>alert(1)</script><p>ok</p></body></html>", "ok"},
		{"list", "<ul><li>one</li><li>two</li></ul>", "one\ntwo"},
		{"table cells", "<table><tr><td>Ward</td><td>7B</td></tr><tr><td>Beds</td><td>2</td></tr></table>", "Ward 7B\nBeds 2"},
		{"source white space folds", "<p>a\n   b\t c</p>", "a b c"},
		{"space between inline elements kept", "<span>a</span> <span>b</span>", "a b"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		if got := htmlToText(tc.in); got != tc.want {
			t.Errorf("%s: htmlToText = %q, want %q", tc.name, got, tc.want)
		}
	}
}
