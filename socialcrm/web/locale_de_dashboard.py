"""German UI texts of the marketing dashboard, keyed by the English text (merged into locale_de.CATALOGUE)."""

DASHBOARD_DE: dict[str, str] = {
    # dashboard
    "Period": "Zeitraum",
    "Only": "Nur",
    "Tag": "Schlagwort",
    "show everything": "alles zeigen",
    "last {days} days": "letzte {days} Tage",
    "Show": "Anzeigen",
    "From": "Von",
    "To": "Bis",
    "Export CSV": "CSV exportieren",
    "Export for Excel": "Für Excel exportieren",
    "Key figures": "Kennzahlen",
    "Complaints (negative mentions)": "Beschwerden (negative Erwähnungen)",
    "Response rate": "Antwortquote",
    "Median time to first response": "Median der Zeit bis zur ersten Antwort",
    "Median time to resolve a complaint": "Median der Zeit bis zur Lösung einer Beschwerde",
    "Cancellation and churn signals": "Kündigungs- und Abwanderungssignale",
    "Leads won (ordered after the lead)": "Gewonnene Leads (Bestellung nach dem Lead)",
    "Sentiment over time": "Stimmung im Zeitverlauf",
    "per day": "pro Tag",
    "per week": "pro Woche",
    "Volume": "Volumen",
    "by source": "nach Quelle",
    "by group": "nach Gruppe",
    "by tag": "nach Schlagwort",
    "Volume by source": "Volumen nach Quelle",
    "Volume by group": "Volumen nach Gruppe",
    "Volume by tag": "Volumen nach Schlagwort",
    "Share of voice": "Share of Voice",
    "Top negative themes": "Häufigste negative Themen",
    "Sentiment by source": "Stimmung nach Quelle",
    # dashboard: changes, drill-down, themes, share of voice (insights)
    "Changes against the previous period: {first} – {last}": "Veränderung gegenüber dem Vorzeitraum: {first} – {last}",
    "previous period: {value}": "Vorzeitraum: {value}",
    "new": "neu",
    "Theme": "Thema",
    "Weekly digest": "Wochenbericht",
    "E-mail address": "E-Mail-Adresse",
    "Send me last week's figures every Monday (in my language)": (
        "Schicken Sie mir montags die Zahlen der Vorwoche (in meiner Sprache)"
    ),
    "No mail server is configured yet ([smtp]): digests wait until an admin sets one up.": (
        "Noch kein Mailserver eingerichtet ([smtp]): Wochenberichte warten, bis ein Admin einen einrichtet."
    ),
    "Weekly digest settings saved.": "Einstellungen zum Wochenbericht gespeichert.",
    "New customers from leads (first order after the lead)": "Neukunden aus Leads (erste Bestellung nach dem Lead)",
    "Campaign response": "Kampagnenresonanz",
    "Mentions and their sentiment per campaign tag, against the previous period.": (
        "Erwähnungen und ihre Stimmung je Kampagnen-Schlagwort, verglichen mit dem Vorzeitraum."
    ),
    "Share of voice compares how often people talk about you and about your competitors.": (
        "Share of Voice vergleicht, wie oft über Sie und über Ihre Mitbewerber gesprochen wird."
    ),
    "share-of-voice:setup": (
        "Sie erscheint, sobald Erwähnungen aus mindestens zwei Abfragegruppen kommen: Geben Sie den Quellen, "
        'die auf Ihre Mitbewerber hören, eine eigene Gruppe (group = "competitor" neben group = "brand" in '
        "ihren [[sources]]-Einträgen, siehe config.example.toml)."
    ),
    "Latest negative mentions": "Neueste negative Erwähnungen",
    "Wrong label? Correct it: corrections retrain the classifier.": (
        "Falsch bewertet? Korrigieren Sie es: Korrekturen trainieren den Klassifikator nach."
    ),
}
