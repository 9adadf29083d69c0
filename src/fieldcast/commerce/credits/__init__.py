"""Credits to people (记账): what an organisation credited to a host or another person for a show
or in general, as a commission, a payout or a gift. The platform moves no money here; it keeps the
organisation's own truthful record, which integrity's rules read (an official may take no pay of
any kind, so a credit to one raises an alert; recording it is never refused)."""
