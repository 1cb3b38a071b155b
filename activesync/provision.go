package activesync

import (
	"context"
	"strconv"

	"github.com/beevik/etree"

	"airlock/devices"
	"airlock/policies"
)

// policyType12 is the only policy format of EAS 12.0 and later
// (MS-ASPROV 2.2.2.42); "MS-WAP-Provisioning-XML" was EAS 2.5's.
const policyType12 = "MS-EAS-Provisioning-WBXML"

// Provision status values (MS-ASPROV 2.2.2.53.1, 2.2.2.53.2).
const (
	provisionOK            = 1
	provisionProtocolError = 2
	provisionServerError   = 3
	policyOK               = 1
	policyNoPolicy         = 2
	policyUnknownType      = 3
	policyWrongKey         = 5
)

// provision serves both phases of MS-ASPROV 3.2.5.1 and the remote wipe
// exchange (3.2.5.1.2): first the device gets the policy and a temporary
// key; it applies the policy and acknowledges with that key and how it
// went; then it gets its final key. A pending wipe replaces all of that.
func (h *Handler) provision(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "Provision:Provision")
	if req == nil {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "Provision request without Provision element"}
	}
	doc, resp := newDoc("Provision:Provision")

	// Wipe acknowledgement, or a wipe still to deliver.
	if ack := firstOf(req, "Provision:RemoteWipe", "Provision:AccountOnlyRemoteWipe"); ack != nil && r.Access.WipePending {
		status, _ := strconv.Atoi(text(ack, "Provision:Status"))
		if err := h.devices.WipeAcknowledged(ctx, r.Device, status, clientIP(r.HTTP)); err != nil {
			return nil, err
		}
		add(resp, "Provision:Status", itoa(provisionOK))
		if status != 1 {
			// MS-ASPROV 3.2.5.1.2.2: a failed wipe is requested again.
			resp.CreateElement(wipeElement(r.Access.WipeType))
		}
		return &Response{Doc: doc}, nil
	}
	if r.Access.WipePending {
		add(resp, "Provision:Status", itoa(provisionOK))
		resp.CreateElement(wipeElement(r.Access.WipeType))
		return &Response{Doc: doc}, nil
	}

	// DeviceInformation rides in Provision from 14.1 (MS-ASPROV 2.2.2.52);
	// 16.x must send it.
	access := r.Access
	devInfoStatus := 0
	if set := child(child(req, "Settings:DeviceInformation"), "Settings:Set"); set != nil {
		var err error
		access, err = h.devices.SetDeviceInformation(ctx, r.User, r.Device, deviceInfo(set), policies.InfoFromProvision, clientIP(r.HTTP))
		if err != nil {
			return nil, err
		}
		devInfoStatus = 1
	} else if r.Version >= V160 && child(req, "Settings:DeviceInformation") == nil && isPhaseOne(req) {
		return nil, statusError(StatusDeviceInfoRequired, 400, "DeviceInformation required", nil)
	}
	if access.State == "blocked" && !access.NotProvisionable {
		return nil, blockedError(access)
	}

	add(resp, "Provision:Status", itoa(provisionOK))
	if devInfoStatus != 0 {
		add(resp.CreateElement("Settings:DeviceInformation"), "Settings:Status", itoa(devInfoStatus))
	}
	policy := child(child(req, "Provision:Policies"), "Provision:Policy")
	if policy == nil {
		// DeviceInformation alone (or nothing) is a valid request.
		return &Response{Doc: doc}, nil
	}
	out := resp.CreateElement("Provision:Policies").CreateElement("Provision:Policy")
	ptype := text(policy, "Provision:PolicyType")
	add(out, "Provision:PolicyType", ptype)
	if ptype != policyType12 {
		add(out, "Provision:Status", itoa(policyUnknownType))
		return &Response{Doc: doc}, nil
	}

	if key := text(policy, "Provision:PolicyKey"); key != "" {
		// Phase two: the acknowledgement.
		ackStatus, _ := strconv.Atoi(text(policy, "Provision:Status"))
		finalKey, ok, err := h.devices.Acknowledge(ctx, r.User, r.Device, key, policies.PolicyAck(ackStatus), clientIP(r.HTTP))
		if err != nil {
			return nil, err
		}
		if !ok {
			add(out, "Provision:Status", itoa(policyWrongKey))
			return &Response{Doc: doc}, nil
		}
		add(out, "Provision:Status", itoa(policyOK))
		add(out, "Provision:PolicyKey", strconv.FormatInt(finalKey, 10))
		// Re-decide with the acknowledgement; a refusal shows on the next
		// command as 139/145 (the key alone grants nothing).
		if _, err := h.devices.Evaluate(ctx, r.Device); err != nil {
			return nil, err
		}
		return &Response{Doc: doc}, nil
	}

	// Phase one: the policy document and a temporary key.
	_, settings, err := h.devices.Policy(ctx)
	if err != nil {
		return nil, err
	}
	tempKey, err := h.devices.IssueTemporaryKey(ctx, r.Device)
	if err != nil {
		return nil, err
	}
	add(out, "Provision:Status", itoa(policyOK))
	add(out, "Provision:PolicyKey", strconv.FormatInt(tempKey, 10))
	provisionDoc := out.CreateElement("Provision:Data").CreateElement("Provision:EASProvisionDoc")
	writeDocFields(provisionDoc, settings.ProvisionDoc(r.Version.String()))
	return &Response{Doc: doc}, nil
}

func isPhaseOne(req *etree.Element) bool {
	p := child(child(req, "Provision:Policies"), "Provision:Policy")
	return p != nil && text(p, "Provision:PolicyKey") == ""
}

func wipeElement(wipeType string) string {
	if wipeType == "account" {
		return "Provision:AccountOnlyRemoteWipe"
	}
	return "Provision:RemoteWipe"
}

func writeDocFields(parent *etree.Element, fields []policies.DocField) {
	for _, f := range fields {
		el := parent.CreateElement("Provision:" + f.Name)
		if len(f.Children) > 0 {
			writeDocFields(el, f.Children)
			continue
		}
		if f.Value != "" {
			el.SetText(f.Value)
		}
	}
}

// deviceInfo reads Settings:DeviceInformation/Set (MS-ASCMD 2.2.3.50).
func deviceInfo(set *etree.Element) devices.DeviceInfo {
	return devices.DeviceInfo{
		Model:          text(set, "Settings:Model"),
		IMEI:           text(set, "Settings:IMEI"),
		FriendlyName:   text(set, "Settings:FriendlyName"),
		OS:             text(set, "Settings:OS"),
		OSLanguage:     text(set, "Settings:OSLanguage"),
		PhoneNumber:    text(set, "Settings:PhoneNumber"),
		UserAgent:      text(set, "Settings:UserAgent"),
		MobileOperator: text(set, "Settings:MobileOperator"),
	}
}

func firstOf(el *etree.Element, names ...string) *etree.Element {
	for _, n := range names {
		if c := child(el, n); c != nil {
			return c
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
