package activesync

// Supersession of held Pings across nodes.
//
// A device has one Ping outstanding: a newer Ping or Sync of the device
// ends the held one with Status 1 (MS-ASCMD 2.2.1.13; Exchange does the
// same, so the abandoned request does not stay open until its heartbeat).
// Its other commands do not: a SendMail beside a held Ping is ordinary, and
// ending the Ping would cost the phone its push until it pinged again. On
// one node pushState.arrive does it. Behind a load balancer the newer request may
// reach another node, and on PostgreSQL the nodes tell each other:
//
//   - every admitted Ping and Sync is announced to all nodes (arrivalBus, a
//     NOTIFY on store.ArrivalChannel through push.Broker), before the
//     command runs; other commands are not announced;
//   - PostgreSQL delivers the announcements in one order, the same on every
//     node. A node that has heard its own announcement of the device's
//     latest request and then hears another node's knows that the other
//     request is the newer one: it ends its held Ping (Status 1), or, if the
//     Ping has not begun to wait yet, makes it end as soon as it would.
//   - A node that has not yet heard its own announcement leaves its Ping
//     alone: the other request may be the older one. No clocks are compared.
//
// If an announcement is lost (the NOTIFY failed, or the listener was
// reconnecting) the Ping is not superseded and ends at its heartbeat, as
// before: supersession frees resources early, it never carries data, so
// nothing is lost either way. Wrongly ending a Ping would only cost the
// device one more round trip (Status 1 says "ask again").

// arrivalBus carries request arrivals between nodes; push.Broker implements
// it, and carries them on PostgreSQL only.
type arrivalBus interface {
	// Announce tells every node, this one included, that a request of the
	// device arrived here with this node's sequence number seq.
	Announce(devicePK int64, seq uint64)
	// OnArrival registers fn for every announcement; own is true for this
	// node's.
	OnArrival(fn func(devicePK int64, seq uint64, own bool)) (cancel func())
	// CrossNode reports whether announcements leave this node at all.
	CrossNode() bool
}

// heard takes an announced arrival (arrivalBus.OnArrival).
func (p *pushState) heard(devicePK int64, seq uint64, own bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	latest, inFlight := p.latest[devicePK]
	if !inFlight {
		return // nothing of the device here to order or to end
	}
	if own {
		p.echoed[devicePK] = max(p.echoed[devicePK], seq)
		return
	}
	if p.echoed[devicePK] < latest {
		return // our latest request may be the newer one
	}
	p.superseded[devicePK] = latest
	if hp := p.held[devicePK]; hp != nil {
		close(hp.done)
		delete(p.held, devicePK)
		p.remoteSuperseded.Add(1)
	}
}
