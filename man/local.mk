# man/ rules
