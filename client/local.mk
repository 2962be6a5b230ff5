# client/ rules
