package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"airlock/activesync/wbxml"
)

// runWBXMLDecode is how an administrator reads what a misbehaving phone
// sent: paste the hex or base64 from a trace, get the XML with every
// element named by its code page.
func runWBXMLDecode(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wbxml decode", "wbxml decode [--hex | --base64] < input")
	asHex := fs.Bool("hex", false, "input is hex text (spaces and newlines ignored)")
	asBase64 := fs.Bool("base64", false, "input is base64 text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *asHex && *asBase64 {
		return errors.New("--hex and --base64 exclude each other")
	}
	in, err := io.ReadAll(io.LimitReader(e.stdin, 64<<20))
	if err != nil {
		return err
	}
	switch {
	case *asHex:
		d, err := wbxml.DecodeHex(string(in))
		if err != nil {
			return err
		}
		return wbxml.WriteXML(e.stdout, d)
	case *asBase64:
		d, err := wbxml.DecodeBase64(strings.TrimSpace(string(in)))
		if err != nil {
			return err
		}
		return wbxml.WriteXML(e.stdout, d)
	}
	d, err := wbxml.Unmarshal(in)
	if err != nil {
		return fmt.Errorf("%w (pasted text? use --hex or --base64)", err)
	}
	return wbxml.WriteXML(e.stdout, d)
}

func runWBXMLEncode(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wbxml encode", "wbxml encode < input.xml > output.wbxml")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, err := wbxml.ParseXML(e.stdin)
	if err != nil {
		return err
	}
	out, err := wbxml.Marshal(d)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}
