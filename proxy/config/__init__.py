"""What the label configured, as read from `rules/`: YAML sources with line numbers, the
agent catalogue, the policy and its rules, the reservation, the sites and their
certificates, the licences section. Pure parsing and validation: nothing here knows
about a request beyond matching one."""
