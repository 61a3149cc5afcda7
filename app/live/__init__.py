"""The live store as screens, the API and the services read it: entities as rows (vehicles with
their delays), feed health judged now. Read models only: nothing here writes."""
