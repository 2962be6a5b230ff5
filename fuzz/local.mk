# fuzz/ rules
