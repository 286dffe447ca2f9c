"""German UI texts of the custom-label pages, keyed by the English text (merged into locale_de.CATALOGUE)."""

LABELS_DE: dict[str, str] = {
    "Labels": "Labels",
    "Label": "Label",
    "New label": "Neues Label",
    "No labels yet.": "Noch keine Labels.",
    "Your own labels beyond sentiment, such as churn signals or purchase intent: teach each with examples, "
    "check its estimated precision and recall, switch it on. Switched-on labels are predicted for every new "
    "mention and can be used in rules, filters, exports and the dashboard.": "Eigene Labels über die Stimmung "
    "hinaus, etwa Kündigungssignale oder Kaufabsicht: Bringen Sie jedem Label mit Beispielen bei, worum es geht, "
    "prüfen Sie die geschätzte Präzision und Trefferquote und schalten Sie es ein. Eingeschaltete Labels werden "
    "für jede neue Erwähnung vorhergesagt und lassen sich in Regeln, Filtern, Exporten und im Dashboard nutzen.",
    "Name (for rules, filters and exports)": "Name (für Regeln, Filter und Exporte)",
    "What it means": "Bedeutung",
    "Threshold": "Schwelle",
    "Precision": "Präzision",
    "Recall": "Trefferquote",
    "Trained": "Trainiert",
    "not yet": "noch nicht",
    "on": "an",
    "off": "aus",
    "yes": "ja",
    "no": "nein",
    "{positive} yes, {negative} no": "{positive} ja, {negative} nein",
    "on {positive} yes and {negative} no": "mit {positive} ja und {negative} nein",
    "Estimated quality": "Geschätzte Qualität",
    "Estimated by {folds}-fold cross-validation on the {positive} examples and {negative} counter-examples "
    "marked at training time: each was scored by a head trained without it. Few examples give rough figures.": (
        "Geschätzt durch {folds}-fache Kreuzvalidierung mit den {positive} Beispielen und {negative} "
        "Gegenbeispielen, die beim Training markiert waren: Jedes wurde von einem Modell bewertet, das ohne es "
        "trainiert wurde. Wenige Beispiele ergeben nur grobe Werte."
    ),
    "Trained {when} by {who} on {features}.": "Trainiert {when} von {who} auf {features}.",
    "The classifier changed since training: train again before this label is predicted.": (
        "Der Klassifikator hat sich seit dem Training geändert: Trainieren Sie erneut, damit das Label "
        "vorhergesagt wird."
    ),
    "Not trained yet: mark at least {n} examples and {n} counter-examples, then train.": (
        "Noch nicht trainiert: Markieren Sie mindestens {n} Beispiele und {n} Gegenbeispiele und trainieren Sie dann."
    ),
    "{count} mentions have this label.": "{count} Erwähnungen haben dieses Label.",
    "{count} mentions got this label from an earlier training: label existing mentions again to update them.": (
        "{count} Erwähnungen haben dieses Label aus einem früheren Training: Labeln Sie die vorhandenen Erwähnungen"
        " erneut, um sie zu aktualisieren."
    ),
    "Show them": "Anzeigen",
    "Train and estimate": "Trainieren und schätzen",
    "Switch on": "Einschalten",
    "Switch off": "Ausschalten",
    "Label existing mentions (newest 200)": "Vorhandene Erwähnungen labeln (neueste 200)",
    "Label older mentions (200 more)": "Ältere Erwähnungen labeln (200 weitere)",
    "Mark mentions": "Erwähnungen markieren",
    "Has the label": "Hat das Label",
    "Has it not": "Hat es nicht",
    "No mentions to mark.": "Keine Erwähnungen zum Markieren.",
    "Add a written example": "Ein geschriebenes Beispiel hinzufügen",
    "Examples": "Beispiele",
    "No examples yet.": "Noch keine Beispiele.",
    "Remove": "Entfernen",
    "Settings": "Einstellungen",
    "In a rule:": "In einer Regel:",
    "Delete label": "Label löschen",
    "Teach a label": "Label beibringen",
    "Label created. Now mark examples and counter-examples.": (
        "Label angelegt. Markieren Sie jetzt Beispiele und Gegenbeispiele."
    ),
    "Label saved.": "Label gespeichert.",
    "Example added.": "Beispiel hinzugefügt.",
    "Example removed.": "Beispiel entfernt.",
    "Label trained; the estimate below is new.": "Label trainiert; die Schätzung unten ist neu.",
    "Label switched on: it is predicted for every new mention.": (
        "Label eingeschaltet: Es wird für jede neue Erwähnung vorhergesagt."
    ),
    "Label switched off.": "Label ausgeschaltet.",
    "Existing mentions labelled.": "Vorhandene Erwähnungen gelabelt.",
    "Label deleted.": "Label gelöscht.",
    "Mentions per label": "Erwähnungen je Label",
}
