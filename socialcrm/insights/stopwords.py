"""Common German and English words left out of the "top negative themes" (our own short list)."""

from __future__ import annotations

_ENGLISH = """
about above after again against all also although always among an and another any anyone anything are
around as at away back be because been before being below between both but by can cannot could did
does doing done down during each either else even ever every few for from further get gets getting got
had has have having he her here hers herself him himself his how however i if in into is it its itself
just know last least less let like made make many may me might more most much must my myself never new
next no nobody none nor not nothing now of off often on once one only or other others our ours
ourselves out over own per please really same say says see seem seems she should since so some someone
something still such than thank thanks that the their theirs them themselves then there these they
thing things think this those though through thus to too today under until up upon us use used very
want was way we well were what when where whether which while who whom whose why will with within
without would yes yet you your yours yourself yourselves will just don't can't won't isn't it's i'm
i've you're they're that's there's what's doesn't didn't wasn't
"""
_GERMAN = """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf
aus bei beim bin bis bist da dabei dadurch dafür dagegen daher damit dann darauf darum das dass dein
deine dem den denn der des deshalb dessen die dies diese diesem diesen dieser dieses doch dort du durch
ein eine einem einen einer eines einfach er es etwas euch euer eure für gegen gewesen hab habe haben
hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im immer in
indem ins ist jede jedem jeden jeder jedes jetzt kann kannst kein keine keinem keinen keiner können
könnte machen man manche mehr mein meine meinem meinen meiner mich mir mit muss musste nach nicht
nichts noch nun nur ob oder ohne schon sehr sein seine seinem seinen seiner selbst sich sie sind so
solche soll sollte sondern sonst über um und uns unser unsere unter viel vom von vor wann war waren
warum was weg weil weiter welche welchem welchen welcher wenn wer werde werden wie wieder will wir wird
wirst wo wollen wollte würde würden zu zum zur zwar zwischen danke bitte heute leider gibt gerade
schon wurde wurden mal halt eben ganz
"""
STOPWORDS = frozenset((_ENGLISH + _GERMAN).split())
