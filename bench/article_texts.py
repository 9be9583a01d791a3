"""The stories of the article-extraction corpus: report-like text, written for it.

Each story is its body as blocks (``## `` opens a subheading, ``* `` a list item), the
phrase a rule would look for, and how its page is built (``bench.article_pages``). The
first is the seed report; the others were written for this corpus and name no real event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SEED = Path(__file__).resolve().parents[2] / "shared" / "data" / "seed-article.txt"


@dataclass(frozen=True)
class Story:
    """One page of the corpus: what its article says, and how the page around it is built."""

    slug: str
    layout: str
    title: str
    blocks: tuple[str, ...]
    key: str
    lang: str = "en"
    encoding: str = "utf-8"
    published: str = "2026-11-24T08:00:00Z"
    caption: str = ""

    @property
    def text(self) -> str:
        """The expected extraction: every block, markers removed, blank lines between."""
        return "\n\n".join(b.removeprefix("## ").removeprefix("* ") for b in self.blocks)


def seed_blocks() -> tuple[str, ...]:
    """The seed report's body: its headline, standfirst, caption, credit and 'READ MORE' links
    are page furniture, placed around the article by the page, not in it."""
    paras = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    caption = paras[2].splitlines()[0]
    furniture = {caption, "Route 6"}
    body = [p for p in paras[2:] if "\n" not in p and p not in furniture]
    body = [p for p in body if not p.startswith("READ MORE")]
    return tuple(f"## {p}" if p.startswith("'") and p.endswith("'") else p for p in body)


DEEP = (
    "The wells in Harrow district began to fail in June, two months before anyone in the "
    "provincial capital was willing to call it a drought.",
    "By September the reservoir above Tessaly had fallen to a fifth of its usual level, and the "
    "water company was trucking drinking water to eleven villages on alternate days.",
    "Farmers who had borrowed against the harvest found themselves with neither crop nor credit. "
    "Three of the district's four grain cooperatives suspended payments in October.",
    "Then the border closed. The neighbouring government shut the Kessel crossing after a dispute "
    "over transit fees, cutting the route by which most of the north's livestock reached market.",
    '"We were told it would be a week," said Ilse Marran, who keeps two hundred sheep outside '
    'Brenn. "It has been seven weeks. The animals are eating feed we bought for the winter."',
    "Protests began small: a dozen tractors parked across the ring road, a sit-in outside the "
    "water company's offices. By mid-November they drew thousands.",
    "On 19 November a crowd forced its way into the district administration building in "
    "Tessaly. Police used tear gas to clear it, and forty-one people were detained.",
    "The provincial assembly met in emergency session the following day but adjourned without a "
    "vote on the relief package the northern deputies had demanded.",
    "Over the weekend, protesters blocked the railway line south of Brenn and set fire to two "
    "customs warehouses near the closed crossing.",
    "On Tuesday night the governor declared martial law in the three northern districts, "
    "suspending public gatherings and ordering checkpoints on every road into Tessaly.",
    "Soldiers from the 4th Mountain Brigade took over the checkpoints on Wednesday morning. "
    "Shops in the centre of Tessaly stayed shut, and queues formed outside the two open bakeries.",
    "Opposition deputies called the order disproportionate and said they would challenge it in "
    "the constitutional court. The governor's office said the measures would last thirty days.",
    "Aid groups warned that the checkpoints could delay water deliveries to the villages that "
    "depend on them. The water company said its trucks had been given passes.",
    'In Harrow, where it began, the wells are still dry. "Nobody came to see the wells," '
    'Marran said. "They came when the warehouses burned."',
)

QUAKE = (
    "A strong earthquake struck off the southern coast of Peru early on Monday, damaging dozens "
    "of buildings in the port city of Ilo and cutting power to much of the region.",
    "The national geophysics institute put the magnitude at 7.1 and the depth at 38 kilometres. "
    "The shaking lasted nearly a minute, residents said.",
    "Two people were killed when a wall collapsed in the old town, the regional governor told "
    "local radio, and at least 60 were treated for injuries.",
    "An aftershock of magnitude 5.8 hit shortly after 6am, sending residents who had returned "
    "home back into the streets.",
    "The navy briefly issued a tsunami warning for the coast between Ilo and Tacna, lifting it "
    "after sea levels showed only minor changes.",
    "Schools in the region will stay closed on Tuesday while engineers inspect the buildings, the "
    "education ministry said.",
    "The mining company that operates the nearby copper smelter said it had halted work as a "
    "precaution and that none of its staff had been hurt.",
)

HOSPITAL = (
    "St Aldhelm's Regional Hospital has diverted ambulances to neighbouring trusts after a "
    "ransomware attack took its computer systems offline overnight.",
    "The hospital said the attack was detected at about 2am on Sunday, when staff in the "
    "emergency department found they could no longer open scanning results.",
    "In a statement, chief executive Dr Miriam Oduya said patient records were encrypted on two "
    "of the hospital's servers and that staff had switched to paper.",
    "Planned operations for Monday and Tuesday have been cancelled. Patients will be contacted "
    "directly and should not call the hospital's switchboard, she said.",
    "The National Cyber Security Centre said it was working with the hospital to understand the "
    "incident. Police said they had opened an investigation.",
    "A group that has previously targeted health services posted the hospital's name on its leak "
    "site on Monday afternoon, claiming to have copied staff and patient data.",
    "The hospital said it was too early to say whether any data had been taken. It has not said "
    "whether it received a ransom demand.",
    "Unions representing nurses said staff were working long shifts to keep wards running and "
    "called for extra agency cover while the systems are restored.",
)

PORT = (
    "Container traffic at Northport came to a standstill on Thursday as two thousand workers "
    "began an open-ended strike over pay and the use of automated cranes.",
    "The dockworkers walked out at dawn after talks with the port operator broke down late on "
    "Wednesday, union officials said. Picket lines formed at all four terminal gates.",
    "At least fourteen container ships were waiting at anchor by midday, according to tracking "
    "data, and freight forwarders warned of delays to supermarket deliveries within days.",
)

ELECTION = (
    "## Turnout above 60% by noon, commission says",
    "The electoral commission says turnout passed 60% at noon, higher than at the same point in "
    "the last general election. Queues are still long in the capital.",
    "## Opposition alleges late opening",
    "The opposition alliance says dozens of polling stations in Kisumu opened more than two hours "
    "late because ballot papers had not arrived. The commission says the papers were delivered "
    "by 8am and all stations are now open.",
    "## Observers report calm",
    "The regional observer mission says voting has been calm in the constituencies its teams "
    "have visited, though it notes problems with the biometric kits in some rural areas.",
    "## Polls close at 5pm",
    "Polling stations close at 5pm local time. Anyone still in the queue at that point will be "
    "allowed to vote, the commission chairman reminded voters in a radio address.",
)

FRENCH = (
    "Les pluies diluviennes qui se sont abattues sur le Gard dans la nuit de dimanche à lundi ont "
    "provoqué des inondations dans une quarantaine de communes.",
    "Plus de 300 millimètres d'eau sont tombés en douze heures à Anduze, selon Météo-France, qui "
    "a placé le département en vigilance rouge.",
    "Les pompiers ont procédé à 180 sauvetages, dont une vingtaine par hélicoptère. Une femme de "
    "72 ans est portée disparue à Saint-Jean-du-Gard.",
    "Le préfet a annoncé que les écoles resteront fermées jusqu'à lundi dans les communes les plus "
    "touchées, et que plusieurs routes départementales sont coupées.",
    "Le gouvernement a promis une reconnaissance rapide de l'état de catastrophe naturelle, qui "
    "permet aux sinistrés d'être indemnisés par leur assurance.",
    "« L'eau est montée d'un mètre en vingt minutes », raconte Hélène Barthès, commerçante à "
    "Alès, dont la boutique a été dévastée.",
)

RUSSIAN = (
    "В Якутии из-за лесных пожаров ввели режим чрезвычайной ситуации регионального характера, "
    "сообщили в правительстве республики во вторник.",
    "По данным авиалесоохраны, в регионе действуют 47 очагов общей площадью более 120 тысяч "
    "гектаров. Ещё девять пожаров ликвидированы за сутки.",
    "Дым накрыл Якутск и несколько соседних улусов. Жителям рекомендовали не открывать окна и "
    "по возможности оставаться дома.",
    "К тушению привлечены около 900 человек и 14 воздушных судов. Из соседних регионов направлены "
    "дополнительные группы парашютистов-пожарных.",
    "Власти предупредили, что в ближайшие дни ожидается сухая и ветреная погода, из-за которой "
    "огонь может подойти к населённым пунктам.",
)

GERMAN = (
    "Nach den schweren Ausschreitungen in der Innenstadt hat die Stadt Lindau eine nächtliche "
    "Ausgangssperre für das Wochenende verhängt.",
    "Zwischen 22 Uhr und 5 Uhr dürfen Bewohner ihre Wohnungen nur noch mit triftigem Grund "
    "verlassen, teilte der Oberbürgermeister am Freitag mit.",
    "In der Nacht zum Freitag hatten mehrere hundert Menschen Schaufenster eingeworfen und "
    "Autos angezündet. Die Polizei nahm 23 Personen fest, elf Beamte wurden verletzt.",
    "Auslöser der Krawalle war offenbar der Tod eines 19-Jährigen bei einer Verkehrskontrolle "
    "am Mittwochabend. Die Staatsanwaltschaft ermittelt.",
    "Vertreter der Oppositionsparteien kritisierten die Maßnahme als überzogen. Der "
    "Landesinnenminister stellte sich dagegen hinter die Entscheidung der Stadt.",
    "Die Ausgangssperre soll am Montagmorgen enden. Ob sie verlängert wird, will der Krisenstab am "
    "Sonntag entscheiden.",
)

WILDFIRE = (
    "Fire crews were battling a fast-moving wildfire north of Redding on Sunday after strong winds "
    "pushed the blaze across a highway.",
    "The county sheriff issued an evacuation order for about 3,000 homes in the Shasta Lake area "
    "and opened two shelters at local schools.",
    "No injuries had been reported by Sunday evening. The cause of the fire is under "
    "investigation.",
)

CABLE = (
    "Since Friday morning, most of the islands' internet traffic has been running over a single "
    "satellite link that was meant to be a backup for a few government offices.",
    "The reason is an undersea cable: the only fibre connecting the archipelago to the mainland "
    "was cut about 40 kilometres offshore, probably by a ship's anchor during the storm.",
    "I spent the weekend measuring what that means. Median latency from the capital to the "
    "mainland went from 18 ms to over 600 ms, and throughput for a household connection dropped "
    "to a few hundred kilobits per second in the evening peak.",
    "The telecoms regulator says a repair ship is on its way but will not arrive before the 12th. "
    "Splicing the fibre and testing it usually takes another three to five days.",
    "The lesson is not new, but it keeps having to be learned: one cable is not redundancy. Two "
    "cables landing on the same beach are barely better.",
    "If you run services here, plan for the link to stay degraded for at least two more weeks, "
    "and put anything you can on local hosting in the meantime.",
)

GOV = (
    "The City of Marlow Water Department has issued a boil-water advisory for residents and "
    "businesses in the Eastgate and Riverside neighbourhoods, effective immediately.",
    "The advisory follows a main break on Harbour Road on Tuesday evening that caused a loss of "
    "pressure in the distribution system. Loss of pressure can allow contaminants to enter the "
    "water supply.",
    "Residents in the affected area should bring water to a rolling boil for at least one minute "
    "before drinking it, making ice, brushing teeth or preparing food.",
    "Crews repaired the main overnight. The department is collecting samples and expects to lift "
    "the advisory within 48 hours if two consecutive tests are clear.",
    "Bottled water is available free of charge at the Eastgate Community Centre from 8am to 8pm "
    "while the advisory is in place.",
)

SPANISH = (
    "El Gobierno de Ecuador decretó este martes el estado de excepción en cuatro provincias de la "
    "costa tras una ola de ataques contra comisarías y oficinas públicas.",
    "La medida, que regirá durante sesenta días, permite a las Fuerzas Armadas apoyar a la Policía "
    "en el control del orden público y restringe el derecho de reunión.",
    "Según el Ministerio del Interior, al menos doce agentes resultaron heridos en los ataques del "
    "fin de semana, atribuidos a bandas vinculadas al narcotráfico.",
    "En Guayaquil, varios comercios permanecieron cerrados y el transporte público funcionó con "
    "horarios reducidos. Las clases presenciales fueron suspendidas hasta el viernes.",
    "Organizaciones de derechos humanos pidieron que las fuerzas de seguridad actúen con "
    "proporcionalidad y que se garantice el acceso a la información.",
)

SITREP = (
    "## Situation overview",
    "Heavy rains since 2 November have flooded large parts of Sofala and Zambezia provinces. "
    "Latrines have overflowed in several resettlement sites, and access to safe water is limited.",
    "Health authorities have confirmed 412 cholera cases and 9 deaths in Beira and Dondo districts "
    "since 14 November. Cases are rising fastest among children under five.",
    "## Response",
    "* Two cholera treatment centres are operating in Beira, with 120 beds in total.",
    "* Water trucking reaches about 35,000 people a day in the worst-affected sites.",
    "* Oral rehydration points have been set up in eleven communities.",
    "## Gaps and constraints",
    "Roads to three resettlement sites remain cut, and supplies are being delivered by boat. "
    "Partners report shortages of chlorine and water purification tablets.",
    "The humanitarian appeal for the flood response is 18 per cent funded.",
)


def stories() -> list[Story]:
    """The corpus, in the order pages are numbered."""
    return [
        Story(
            "01-wire-seed",
            "wire",
            "Troops, protesters clash in Kazakhstan as US, UN call for 'restraint'",
            seed_blocks(),
            "internet blackout",
            published="2022-01-06T10:15:00Z",
            caption="Authorities cut internet and mobile phone access nationwide after a state "
            "of emergency was declared.",
        ),
        Story(
            "02-deep-feature",
            "feature",
            "Drought, debt and a closed border: how the north ran out of patience",
            DEEP,
            "martial law",
            caption="A dry irrigation channel near Brenn in October.",
        ),
        Story(
            "03-amp-quake",
            "amp",
            "Strong earthquake shakes southern Peru",
            QUAKE,
            "aftershock of magnitude 5.8",
            caption="Residents outside a damaged church in Ilo.",
        ),
        Story(
            "04-divsoup-hospital",
            "divsoup",
            "Hospital diverts ambulances after cyber attack",
            HOSPITAL,
            "patient records were encrypted",
        ),
        Story(
            "05-paywall-port",
            "paywall",
            "Strike halts container traffic at Northport",
            PORT,
            "walked out at dawn",
        ),
        Story(
            "06-liveblog-election",
            "liveblog",
            "Election day: live updates",
            ELECTION,
            "polling stations in Kisumu",
        ),
        Story(
            "07-legacy-latin1",
            "legacy",
            "Inondations dans le Gard : vigilance rouge",
            FRENCH,
            "écoles resteront fermées",
            lang="fr",
            encoding="iso-8859-1",
        ),
        Story(
            "08-russian-cp1251",
            "portal",
            "В Якутии ввели режим ЧС из-за пожаров",
            RUSSIAN,
            "режим чрезвычайной ситуации",
            lang="ru",
            encoding="windows-1251",
        ),
        Story(
            "09-german-main",
            "main",
            "Krawalle in Lindau: Stadt verhängt Sperrstunde",
            GERMAN,
            "nächtliche Ausgangssperre",
            lang="de",
        ),
        Story(
            "10-brief-wildfire",
            "brief",
            "Wildfire jumps highway near Redding",
            WILDFIRE,
            "evacuation order",
        ),
        Story(
            "11-blog-comments",
            "blog",
            "Notes from a week on one satellite link",
            CABLE,
            "undersea cable",
        ),
        Story(
            "12-gov-release",
            "gov",
            "Water main break: Eastgate and Riverside",
            GOV,
            "boil-water advisory",
        ),
        Story(
            "13-spanish-inline",
            "inline",
            "Ecuador: ataques en la costa",
            SPANISH,
            "estado de excepción",
            lang="es",
        ),
        Story(
            "14-sitrep-lists",
            "sitrep",
            "Mozambique: Floods Flash Update No. 3",
            SITREP,
            "cholera cases",
            published="2026-11-20T16:00:00Z",
        ),
    ]
