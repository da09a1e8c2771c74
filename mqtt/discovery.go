package mqtt

// Discovery is one Home Assistant MQTT discovery message: its retained config topic and payload.
type Discovery struct {
	Topic   string
	Payload map[string]any
}

// DiscoveryMessages returns the Home Assistant discovery configs of the door: a lock, a door
// contact binary_sensor, a "last granted" sensor, an event entity for decisions, door events
// and alarms, and diagnostic sensors for relay faults and dropped events. Each has a unique_id,
// the shared device block and the availability topic.
func DiscoveryMessages(cfg Config, version string) []Discovery {
	t := TopicsFor(cfg)
	node := "doorface_" + cfg.DoorID
	device := map[string]any{
		"identifiers":  []string{node},
		"name":         "doorface " + cfg.DoorID,
		"manufacturer": "doorface",
		"model":        "face recognition door controller",
		"sw_version":   version,
	}
	common := func(object, name string) map[string]any {
		return map[string]any{
			"name":                  name,
			"unique_id":             node + "_" + object,
			"object_id":             node + "_" + object,
			"device":                device,
			"availability_topic":    t.Availability,
			"payload_available":     Online,
			"payload_not_available": Offline,
			"qos":                   1,
		}
	}
	with := func(m map[string]any, kv map[string]any) map[string]any {
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	topic := func(component, object string) string {
		return cfg.DiscoveryPrefix + "/" + component + "/" + node + "/" + object + "/config"
	}
	return []Discovery{
		{topic("lock", "lock"), with(common("lock", "Lock"), map[string]any{
			"state_topic": t.State, "value_template": "{{ value_json.lock }}",
			"state_locked": "LOCKED", "state_unlocked": "UNLOCKED",
			// Commands must be signed (see the README): an unsigned UNLOCK from the lock card is
			// refused and audited.
			"command_topic": t.Command, "payload_lock": "LOCK", "payload_unlock": "UNLOCK",
			"optimistic": false,
		})},
		{topic("binary_sensor", "door"), with(common("door", "Door"), map[string]any{
			"state_topic": t.State, "value_template": "{{ value_json.door }}",
			"payload_on": "open", "payload_off": "closed", "device_class": "door",
		})},
		{topic("sensor", "last_granted"), with(common("last_granted", "Last granted"), map[string]any{
			"state_topic": t.State, "value_template": "{{ value_json.last_granted }}", "icon": "mdi:account-check",
		})},
		{topic("event", "access"), with(common("access", "Access"), map[string]any{
			"state_topic": t.Events, "event_types": EventTypes,
		})},
		{topic("sensor", "relay_fault"), with(common("relay_fault", "Relay fault"), map[string]any{
			"state_topic": t.Diagnostic, "value_template": "{{ value_json.relay_fault if value_json.relay_fault else 'ok' }}",
			"entity_category": "diagnostic", "icon": "mdi:electric-switch",
		})},
		{topic("sensor", "dropped_events"), with(common("dropped_events", "Dropped events"), map[string]any{
			"state_topic": t.Diagnostic, "value_template": "{{ value_json.dropped }}",
			"entity_category": "diagnostic", "state_class": "total_increasing",
		})},
	}
}
