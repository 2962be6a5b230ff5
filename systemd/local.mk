# systemd/ rules
