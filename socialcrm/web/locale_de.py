"""German UI texts, keyed by the English text (a test checks that every text the templates use is here)."""

from socialcrm.web.locale_de_admin import ADMIN_DE
from socialcrm.web.locale_de_dashboard import DASHBOARD_DE
from socialcrm.web.locale_de_labels import LABELS_DE

CATALOGUE: dict[str, str] = {
    # navigation and frame
    "Reply queue": "Antwort-Warteschlange",
    "Tickets": "Tickets",
    "Dashboard": "Dashboard",
    "Customers": "Kunden",
    "Mentions": "Erwähnungen",
    "Admin": "Verwaltung",
    "Language": "Sprache",
    "Browser language": "Sprache des Browsers",
    "Save": "Speichern",
    "Log out": "Abmelden",
    "Log in": "Anmelden",
    "Username": "Benutzername",
    "Password": "Passwort",
    "Times are shown in UTC.": "Zeiten in UTC.",
    "Times are shown in {zone}.": "Zeiten in {zone}.",
    "Change": "Ändern",
    "Time zone": "Zeitzone",
    "Show times in": "Zeiten anzeigen in",
    "Automatic (your browser's, else the server's): {zone}": (
        "Automatisch (die des Browsers, sonst die des Servers): {zone}"
    ),
    "Exports and the API always give times in UTC.": "Exporte und die API geben Zeiten immer in UTC an.",
    "Time zone saved.": "Zeitzone gespeichert.",
    "Back to the start page": "Zur Startseite",
    "Wrong username or password.": "Benutzername oder Passwort falsch.",
    "Too many attempts. Please wait a few minutes.": "Zu viele Versuche. Bitte warten Sie einige Minuten.",
    "The database is unavailable just now. Please try again in a moment.": (
        "Die Datenbank ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal."
    ),
    "The request is not valid.": "Die Anfrage ist ungültig.",
    "You may not do this.": "Das dürfen Sie nicht.",
    "Not found.": "Nicht gefunden.",
    "Method not allowed.": "Methode nicht erlaubt.",
    "Someone else changed this first.": "Jemand anderes hat das bereits geändert.",
    "Error": "Fehler",
    "role:admin": "Administration",
    "role:community": "Community-Management",
    "role:service": "Kundenservice",
    "role:marketing": "Marketing",
    # common words
    "Source": "Quelle",
    "Sources": "Quellen",
    "Sentiment": "Stimmung",
    "Filter": "Filtern",
    "all": "alle",
    "all open": "alle offenen",
    "Group": "Gruppe",
    "Customer": "Kunde",
    "No customer linked": "Kein Kunde verknüpft",
    "No mentions yet.": "Noch keine Erwähnungen.",
    "No mentions.": "Keine Erwähnungen.",
    "Recent mentions": "Neueste Erwähnungen",
    "Older": "Ältere",
    "Next": "Weiter",
    "Previous": "Zurück",
    "Open the post": "Beitrag öffnen",
    "Open the reply": "Antwort öffnen",
    "unknown author": "unbekannter Autor",
    "None.": "Keine.",
    "Nothing yet.": "Noch nichts.",
    "sentiment:negative": "negativ",
    "sentiment:neutral": "neutral",
    "sentiment:positive": "positiv",
    "sentiment:none": "unbewertet",
    "sentiment:unknown": "unbewertet",
    "Correct sentiment": "Stimmung korrigieren",
    "Why": "Warum",
    "rule": "Regel",
    "expected": "erwartet",
    "found": "gefunden",
    "Written by a person, or the rule's explanation is not stored.": (
        "Von einer Person geschrieben, oder die Begründung der Regel ist nicht gespeichert."
    ),
    "prospect": "Interessent",
    # queue
    "pending": "offen",
    "Keys": "Tasten",
    "move": "wechseln",
    "approve": "freigeben",
    "edit": "bearbeiten",
    "reject": "ablehnen",
    "Age": "Alter",
    "age:1h": "jünger als 1 Stunde",
    "age:24h": "jünger als 24 Stunden",
    "age:7d": "jünger als 7 Tage",
    "age:older": "älter als 7 Tage",
    "Nothing to review. Well done.": "Nichts zu prüfen. Gut gemacht.",
    "Thread": "Unterhaltung",
    "Draft": "Entwurf",
    "draft:pending": "wartet auf Prüfung",
    "draft:approved": "freigegeben",
    "draft:rejected": "abgelehnt",
    "draft:sent": "gesendet",
    "draft:failed": "fehlgeschlagen",
    "post by hand": "von Hand posten",
    "created": "erstellt",
    "assigned to": "zugewiesen an",
    "Approve": "Freigeben",
    "Edit": "Bearbeiten",
    "Reply": "Antwort",
    "Save and approve": "Speichern und freigeben",
    "Save only": "Nur speichern",
    "Reject": "Ablehnen",
    "Reason": "Grund",
    "Reassign": "Neu zuweisen",
    "shared queue": "gemeinsame Warteschlange",
    "Approved, to post by hand": "Freigegeben, von Hand zu posten",
    "These platforms have no reply API: copy the reply, open the post, reply there, then mark it as posted.": (
        "Diese Plattformen haben keine Antwort-Schnittstelle: Antwort kopieren, Beitrag öffnen, dort "
        "antworten und als gepostet markieren."
    ),
    "Copy the reply, open the post, reply there, then mark it as posted.": (
        "Antwort kopieren, Beitrag öffnen, dort antworten und als gepostet markieren."
    ),
    "Copy reply": "Antwort kopieren",
    "Link to your reply (optional)": "Link zu Ihrer Antwort (optional)",
    "Mark as posted": "Als gepostet markieren",
    "Try sending again": "Erneut senden",
    "Sent": "Gesendet",
    "Rejected by": "Abgelehnt von",
    "Approved by": "Freigegeben von",
    "Edits": "Änderungen",
    "No other posts in this thread.": "Keine weiteren Beiträge in dieser Unterhaltung.",
    # composer and conversation
    "Conversation": "Unterhaltung",
    "Earlier mentions": "Frühere Erwähnungen",
    "Open tickets": "Offene Tickets",
    "Only the first 200 posts of this thread are shown.": (
        "Nur die ersten 200 Beiträge dieser Unterhaltung werden gezeigt."
    ),
    "Our reply": "Unsere Antwort",
    "written by {name}": "geschrieben von {name}",
    "Signs replies as": "Unterschreibt Antworten als",
    "e.g. Anna Schmidt": "z. B. Anna Schmidt",
    "approved by {name}": "freigegeben von {name}",
    "Open in the reply queue": "In der Antwort-Warteschlange öffnen",
    "Waiting for approval in the reply queue.": "Wartet in der Antwort-Warteschlange auf Freigabe.",
    "Waiting for a second person's approval.": "Wartet auf die Freigabe durch eine zweite Person.",
    "You wrote this: a second person approves it.": "Von Ihnen geschrieben: Eine zweite Person gibt es frei.",
    "Approved; the reply is on its way.": "Freigegeben; die Antwort wird gesendet.",
    "Your reply to {author}": "Ihre Antwort an {author}",
    "of {limit} characters left": "von {limit} Zeichen übrig",
    "No length limit on this platform.": "Diese Plattform begrenzt die Länge nicht.",
    "Saved reply": "Textbaustein",
    "Insert": "Einfügen",
    "or type /key and press Tab in the reply": "oder /kürzel in die Antwort tippen und Tab drücken",
    "Preview": "Vorschau",
    "No value for these, so they were left out:": "Dafür gibt es keinen Wert, sie wurden weggelassen:",
    "Send reply": "Antwort senden",
    "Send for approval": "Zur Freigabe senden",
    "Approve, then post by hand": "Freigeben, dann von Hand posten",
    "Four eyes: a second person approves your reply before it leaves.": (
        "Vier-Augen-Prinzip: Eine zweite Person gibt Ihre Antwort frei, bevor sie gesendet wird."
    ),
    "This platform takes no replies by API: copy the reply, open the post, reply there, then mark it as posted.": (
        "Diese Plattform nimmt keine Antworten per API an: Antwort kopieren, Beitrag öffnen, dort antworten, "
        "dann als gepostet markieren."
    ),
    "Reply approved. It is on its way.": "Antwort freigegeben. Sie wird gesendet.",
    "Reply approved. Copy it, open the post, reply there, then mark it as posted.": (
        "Antwort freigegeben. Kopieren, Beitrag öffnen, dort antworten, dann als gepostet markieren."
    ),
    "Reply saved. It waits for a second person's approval.": (
        "Antwort gespeichert. Sie wartet auf die Freigabe durch eine zweite Person."
    ),
    "This reply was sent already. Nothing was sent twice.": (
        "Diese Antwort wurde bereits gesendet. Nichts wurde doppelt gesendet."
    ),
    "You wrote this reply: a second person approves it (four eyes).": (
        "Sie haben diese Antwort geschrieben: Eine zweite Person gibt sie frei (Vier-Augen-Prinzip)."
    ),
    # saved replies
    "Saved replies": "Textbausteine",
    "New saved reply": "Neuer Textbaustein",
    "No saved replies yet.": "Noch keine Textbausteine.",
    "Key": "Kürzel",
    "Title": "Titel",
    "Text": "Text",
    "Changed": "Geändert",
    "Created by": "Angelegt von",
    "changed by": "geändert von",
    "Delete": "Löschen",
    "Variables a saved reply may use": "Variablen, die ein Textbaustein nutzen kann",
    "A value that is missing is left out and the words around it close up, so a greeting without a name reads: "
    "Hallo, danke.": (
        "Ein fehlender Wert wird weggelassen und die Wörter rücken zusammen; eine Anrede ohne Namen lautet dann: "
        "Hallo, danke."
    ),
    "Texts people insert in the reply composer: pick one, or type /key and press Tab. They are filled with the "
    "customer's data for the post being answered.": (
        "Texte zum Einfügen in eine Antwort: auswählen oder /kürzel tippen und Tab drücken. Sie werden mit den "
        "Kundendaten zum beantworteten Beitrag gefüllt."
    ),
    "Saved reply stored.": "Textbaustein gespeichert.",
    "Saved reply deleted.": "Textbaustein gelöscht.",
    # link review in words
    "Linked to": "Verknüpft mit",
    "because of what the post says.": "wegen des Beitragstexts.",
    "Is the author {author} on {platform} this customer?": "Ist der Autor {author} auf {platform} dieser Kunde?",
    "Confirming links the author's later posts too.": "Bestätigen verknüpft auch spätere Beiträge des Autors.",
    "Yes, this is the author": "Ja, das ist der Autor",
    "No, unlink the post": "Nein, Verknüpfung lösen",
    "The post contains this customer's e-mail address {value}.": (
        "Der Beitrag enthält die E-Mail-Adresse {value} dieses Kunden."
    ),
    "The post contains this customer's phone number {value}.": (
        "Der Beitrag enthält die Telefonnummer {value} dieses Kunden."
    ),
    "The post names order {value}, which belongs to this customer.": (
        "Der Beitrag nennt die Bestellung {value} dieses Kunden."
    ),
    "The post names this customer's number {value}.": "Der Beitrag nennt die Kundennummer {value}.",
    "The author's name {name} is close to the customer's name {customer}.": (
        "Der Name des Autors {name} ähnelt dem Namen des Kunden {customer}."
    ),
    "The post names the customer's company.": "Der Beitrag nennt die Firma des Kunden.",
    "The post names other customers too, so a person decides.": (
        "Der Beitrag nennt auch andere Kunden, deshalb entscheidet eine Person."
    ),
    "{what}: {value}": "{what}: {value}",
    # merge candidates, grouped
    "Records that look like one person. They are merged only when you say so.": (
        "Datensätze, die nach einer Person aussehen. Sie werden nur zusammengeführt, wenn Sie es sagen."
    ),
    "Same e-mail address: {value}": "Gleiche E-Mail-Adresse: {value}",
    "Same phone number (last digits {value})": "Gleiche Telefonnummer (letzte Ziffern {value})",
    "Same name and company: {name}, {company}": "Gleicher Name und gleiche Firma: {name}, {company}",
    "{count} records": "{count} Datensätze",
    "Keep": "Behalten",
    "Same person": "Gleiche Person",
    "Merge the ticked records into the kept one": "Angehakte Datensätze in den behaltenen zusammenführen",
    # notices
    "Draft approved. The reply is on its way.": "Entwurf freigegeben. Die Antwort wird gesendet.",
    "Draft approved. Copy the reply, open the post and mark it as posted.": (
        "Entwurf freigegeben. Antwort kopieren, Beitrag öffnen und als gepostet markieren."
    ),
    "Someone else already handled this draft. Nothing was sent twice.": (
        "Jemand anderes hat diesen Entwurf bereits bearbeitet. Nichts wurde doppelt gesendet."
    ),
    "Draft rejected.": "Entwurf abgelehnt.",
    "Draft saved.": "Entwurf gespeichert.",
    "Draft reassigned.": "Entwurf neu zugewiesen.",
    "Marked as posted.": "Als gepostet markiert.",
    "This draft was changed by someone else meanwhile. Please review it again.": (
        "Dieser Entwurf wurde inzwischen von jemand anderem geändert. Bitte prüfen Sie ihn erneut."
    ),
    "Ticket updated.": "Ticket aktualisiert.",
    "Note added.": "Notiz hinzugefügt.",
    "Tickets merged.": "Tickets zusammengeführt.",
    "Sentiment corrected. Thank you: this trains the classifier.": (
        "Stimmung korrigiert. Danke: das trainiert den Klassifikator."
    ),
    "Link confirmed.": "Verknüpfung bestätigt.",
    "Link rejected.": "Verknüpfung abgelehnt.",
    "Customers merged.": "Kunden zusammengeführt.",
    "Merge candidate dismissed.": "Zusammenführung verworfen.",
    "User saved.": "Benutzer gespeichert.",
    "API token created. Copy it now: it is not shown again.": (
        "API-Token erstellt. Jetzt kopieren: es wird nicht noch einmal angezeigt."
    ),
    "API token revoked.": "API-Token widerrufen.",
    # tickets
    "Ticket": "Ticket",
    "List": "Liste",
    "Board": "Tafel",
    "Status": "Status",
    "status:new": "neu",
    "status:open": "offen",
    "status:pending": "wartend",
    "status:resolved": "gelöst",
    "status:closed": "geschlossen",
    "Priority": "Priorität",
    "Order": "Reihenfolge",
    "sort:due": "nach Fälligkeit",
    "sort:priority": "nach Priorität",
    "sort:newest": "neueste zuerst",
    "priority:urgent": "dringend",
    "priority:high": "hoch",
    "priority:normal": "normal",
    "priority:low": "niedrig",
    "Assignee": "Bearbeiter",
    "SLA breached only": "nur SLA-Verletzungen",
    "SLA breaches": "SLA-Verletzungen",
    "SLA breached": "SLA verletzt",
    "breached": "überschritten",
    "Shown": "Angezeigt",
    "Subject": "Betreff",
    "(no subject)": "(kein Betreff)",
    "First response due": "Erste Antwort fällig",
    "Resolution due": "Lösung fällig",
    "answered": "beantwortet",
    "No tickets.": "Keine Tickets.",
    "Team": "Team",
    "Rule": "Regel",
    "Created": "Erstellt",
    "Change status": "Status ändern",
    "Assign": "Zuweisen",
    "Notes": "Notizen",
    "Add a note": "Notiz hinzufügen",
    "Add note": "Notiz speichern",
    "Orders": "Bestellungen",
    "No orders.": "Keine Bestellungen.",
    "Other mentions": "Weitere Erwähnungen",
    "Possible duplicates": "Mögliche Duplikate",
    "Merge into this ticket": "In dieses Ticket übernehmen",
    # customers
    "Link review": "Verknüpfungen prüfen",
    "Merge candidates": "Mögliche Dubletten",
    "Search": "Suchen",
    "name, number, e-mail or handle": "Name, Nummer, E-Mail oder Kennung",
    "include prospects": "Interessenten einschließen",
    "Customer number": "Kundennummer",
    "Name": "Name",
    "Company": "Firma",
    "Segment": "Segment",
    "No customers found.": "Keine Kunden gefunden.",
    "Timeline": "Verlauf",
    "event:mention": "Erwähnung",
    "event:ticket_opened": "Ticket eröffnet",
    "event:ticket_resolved": "Ticket gelöst",
    "event:draft": "Antwortentwurf",
    "event:reply_sent": "Antwort gesendet",
    "event:order": "Bestellung",
    "event:note": "Notiz",
    "Reply drafts": "Antwortentwürfe",
    "Tags": "Schlagworte",
    "E-mail": "E-Mail",
    "Phone": "Telefon",
    "Identities": "Konten",
    "unconfirmed": "unbestätigt",
    "Merged records": "Zusammengeführte Datensätze",
    "Uncertain matches of a post to a customer. Nothing is linked until a person confirms it.": (
        "Unsichere Zuordnungen eines Beitrags zu einem Kunden. Verknüpft wird erst, wenn eine Person bestätigt."
    ),
    "Suggested customer": "Vorgeschlagener Kunde",
    "confidence": "Sicherheit",
    "method": "Verfahren",
    "Currently linked to": "Derzeit verknüpft mit",
    "Evidence": "Hinweise",
    "Confirm": "Bestätigen",
    "Not this customer": "Nicht dieser Kunde",
    "No links to review.": "Keine Verknüpfungen zu prüfen.",
    "Two records that look like one person. They are merged only when you say so.": (
        "Zwei Datensätze, die nach derselben Person aussehen. Zusammengeführt wird nur auf Ihre Anweisung."
    ),
    "Merge, keep A": "Zusammenführen, A behalten",
    "Merge, keep B": "Zusammenführen, B behalten",
    "Different people": "Verschiedene Personen",
    "No merge candidates.": "Keine möglichen Dubletten.",
    # help desk: tickets
    "Add": "Hinzufügen",
    "Add a mention by its number": "Erwähnung über ihre Nummer hinzufügen",
    "Add to this ticket": "Zu diesem Ticket hinzufügen",
    "Apply": "Anwenden",
    "Approved; waiting to be sent or posted by hand.": "Freigegeben; wartet auf den Versand oder das Posten von Hand.",
    "Assign to me": "Mir zuweisen",
    "Assigned to me": "Mir zugewiesen",
    "Assigned to {who} by {name}": "{name} hat es {who} zugewiesen",
    "Back to the list": "Zurück zur Liste",
    "Cancel": "Abbrechen",
    "Close": "Schließen",
    "Delete filter {name}": "Filter {name} löschen",
    "Filter deleted.": "Filter gelöscht.",
    "Filter saved.": "Filter gespeichert.",
    "Follow-up #{id} opened": "Folge-Ticket #{id} eröffnet",
    "Follow-up to": "Folge-Ticket zu",
    "Follow-ups": "Folge-Tickets",
    "History": "Verlauf",
    "Internal note": "Interne Notiz",
    "Internal note by {name}": "Interne Notiz von {name}",
    "Mention added to the ticket.": "Erwähnung zum Ticket hinzugefügt.",
    "Merge": "Zusammenführen",
    "Merge another ticket into this one": "Ein anderes Ticket hierher übernehmen",
    "Merge anyway": "Trotzdem zusammenführen",
    "Merge tickets of two customers?": "Tickets zweier Kunden zusammenführen?",
    "Merged into": "Zusammengeführt in",
    "Merged into #{id} by {name}": "{name} hat es in #{id} zusammengeführt",
    "The posts and notes of #{a} move to #{b}, and #{a} is closed.": (
        "Die Beiträge und Notizen von #{a} wandern nach #{b}, und #{a} wird geschlossen."
    ),
    "My filters": "Meine Filter",
    "No post to reply to.": "Kein Beitrag, auf den man antworten kann.",
    "Only your team sees notes.": "Notizen sieht nur Ihr Team.",
    "Open a ticket": "Ticket eröffnen",
    "Opened by the rule {rule}": "Von der Regel {rule} eröffnet",
    "Opened by {name}": "Von {name} eröffnet",
    "Post": "Beitrag",
    "Priority {old} → {new} by {name}": "Priorität {old} → {new} durch {name}",
    "Public reply": "Öffentliche Antwort",
    "Reopen": "Wieder öffnen",
    "Reopened by a new post #{id} in its thread": (
        "Durch einen neuen Beitrag #{id} in der Unterhaltung wieder geöffnet"
    ),
    "Reopened by {name}": "Von {name} wieder geöffnet",
    "Answers post #{id} on {source}": "Antwortet auf Beitrag #{id} auf {source}",
    "Reply to this post": "Auf diesen Beitrag antworten",
    "Reply to the customer": "Dem Kunden antworten",
    "Save this filter": "Diesen Filter speichern",
    "Select all shown": "Alle angezeigten auswählen",
    "Select ticket {id}": "Ticket {id} auswählen",
    "Selected tickets": "Ausgewählte Tickets",
    "Status {old} → {new} by {name}": "Status {old} → {new} durch {name}",
    "That mention is already on this ticket.": "Diese Erwähnung gehört schon zu diesem Ticket.",
    "The selected tickets were changed.": "Die ausgewählten Tickets wurden geändert.",
    "Ticket #{a} belongs to {first}, ticket #{b} to {second}.": (
        "Ticket #{a} gehört zu {first}, Ticket #{b} zu {second}."
    ),
    "Ticket #{id} merged into this one by {name}": "{name} hat Ticket #{id} hierher übernommen",
    "Ticket opened.": "Ticket eröffnet.",
    "Unassigned": "Nicht zugewiesen",
    "Unassigned by {name}": "{name} hat die Zuweisung aufgehoben",
    "anyone": "beliebig",
    "by {name}": "von {name}",
    "every status": "jeder Status",
    "failed": "fehlgeschlagen",
    "keep": "beibehalten",
    "no customer": "kein Kunde",
    "nobody": "niemand",
    "or add to ticket": "oder zu Ticket hinzufügen",
    "posted by hand by {name}": "von {name} von Hand gepostet",
    "sent again by {name}": "von {name} erneut gesendet",
    "sent through the platform": "über die Plattform gesendet",
    "{changed} changed, {refused} not changed.": "{changed} geändert, {refused} nicht geändert.",
    "{first}–{last} of {total}": "{first}–{last} von {total}",
    "Waiting for a retry": "Warten auf neuen Versuch",
    "Mentions waiting for a retry": "Erwähnungen, die auf einen neuen Versuch warten",
    "Their linking or rules failed; they are retried until they go through or you dismiss them.": (
        "Ihre Zuordnung oder ihre Regeln sind fehlgeschlagen; sie werden erneut versucht, bis es gelingt "
        "oder Sie sie verwerfen."
    ),
    "Retry all now": "Alle jetzt erneut versuchen",
    "Mention": "Erwähnung",
    "Tries": "Versuche",
    "Next try": "Nächster Versuch",
    "Dismiss": "Verwerfen",
}

for _part in (DASHBOARD_DE, ADMIN_DE, LABELS_DE):
    CATALOGUE.update(_part)
