# ruff: noqa: E501  (data: one entry, one line)
"""The retrieval benchmark's data: a pt-BR FAQ of three businesses sharing one tenant (an
internet provider, a shop, a clinic) and colloquial questions, each labelled with its entry.

The questions are written the way customers write on WhatsApp: slang, abbreviations, typos,
few words in common with the FAQ. ``ISSUE_QUESTIONS`` are the four of issue 17 that full-text
search missed or got wrong on a small provider FAQ.
"""

from __future__ import annotations

FAQ: list[tuple[str, str]] = [
    # Internet provider
    (
        "Qual o horário de funcionamento da loja?",
        "Nossa loja física abre de segunda a sexta, das 8h às 18h, e aos sábados das 8h às 12h. Domingos e feriados fechada.",
    ),
    (
        "Qual o horário do suporte técnico?",
        "O suporte técnico atende 24 horas, todos os dias, pelo WhatsApp e pelo telefone 0800 123 4567.",
    ),
    (
        "Quais as formas de pagamento da mensalidade?",
        "A mensalidade pode ser paga por Pix, boleto, débito automático ou cartão de crédito recorrente.",
    ),
    (
        "Qual o prazo de instalação?",
        "A instalação é agendada em até 3 dias úteis após a aprovação do cadastro.",
    ),
    (
        "A instalação é cobrada?",
        "A instalação é gratuita nos planos com fidelidade de 12 meses; sem fidelidade custa R$ 150.",
    ),
    (
        "Quais são os planos de internet?",
        "Temos planos de fibra de 300 Mega por R$ 89,90, 500 Mega por R$ 109,90 e 1 Giga por R$ 149,90.",
    ),
    (
        "Como faço para mudar de plano?",
        "Você pode trocar de plano a qualquer momento pelo app ou pelo WhatsApp; a mudança vale no mesmo dia.",
    ),
    (
        "Como cancelar o contrato?",
        "O cancelamento é feito pelo WhatsApp ou na loja. Dentro da fidelidade há multa proporcional aos meses restantes.",
    ),
    (
        "Existe multa de fidelidade?",
        "Sim, nos planos com fidelidade de 12 meses a multa é proporcional ao tempo que falta para terminar o contrato.",
    ),
    (
        "A internet está lenta, o que fazer?",
        "Reinicie o roteador tirando da tomada por 30 segundos. Se continuar lenta, teste pelo cabo e fale com o suporte.",
    ),
    (
        "Estou sem internet, o que fazer?",
        "Verifique se a luz PON do roteador está verde. Se estiver vermelha ou piscando, pode ser rompimento de fibra: chame o suporte.",
    ),
    (
        "Como trocar a senha do Wi-Fi?",
        "Acesse 192.168.0.1 no navegador, entre com o usuário admin e a senha da etiqueta do roteador, e altere em Wi-Fi > Segurança.",
    ),
    (
        "Como emitir a segunda via do boleto?",
        "A segunda via está no app, na área Financeiro, ou envie seu CPF aqui que mandamos o boleto.",
    ),
    (
        "Qual a data de vencimento da fatura?",
        "Você escolhe o vencimento no cadastro: dia 5, 10, 15 ou 20 de cada mês.",
    ),
    (
        "O que acontece se eu atrasar o pagamento?",
        "Após 15 dias de atraso a velocidade é reduzida, e após 30 dias o serviço é suspenso até o pagamento. Há multa de 2% e juros.",
    ),
    (
        "Como religar a internet depois de pagar?",
        "Depois do pagamento a internet volta em até 1 hora para Pix e em até 2 dias úteis para boleto.",
    ),
    (
        "Vocês atendem o meu endereço?",
        "Consulte a cobertura enviando o seu CEP e número; atendemos a região central e os bairros norte e leste.",
    ),
    (
        "Posso mudar a internet de endereço?",
        "Sim, a mudança de endereço custa R$ 80 e é agendada em até 5 dias úteis, se houver cobertura no novo endereço.",
    ),
    (
        "O roteador é emprestado?",
        "O roteador Wi-Fi 6 fica em comodato: é emprestado enquanto durar o contrato e deve ser devolvido no cancelamento.",
    ),
    (
        "Vocês têm IP fixo?",
        "IP fixo está disponível nos planos empresariais por R$ 30 a mais por mês.",
    ),
    (
        "Tem plano de TV ou telefone?",
        "Oferecemos telefone fixo por R$ 19,90 e pacote de TV por app a partir de R$ 29,90, como adicionais da internet.",
    ),
    (
        "Como funciona o Wi-Fi mesh?",
        "O kit mesh com dois pontos é alugado por R$ 20 por mês e cobre casas de até 200 m².",
    ),
    (
        "Qual a velocidade de upload?",
        "Nos planos de fibra o upload é metade do download: 150, 250 e 500 Mega.",
    ),
    (
        "Tem franquia de dados?",
        "Não, todos os planos são ilimitados, sem franquia de dados e sem redução de velocidade por consumo.",
    ),
    (
        "Como agendar uma visita técnica?",
        "Peça aqui pelo WhatsApp; a visita é agendada em até 48 horas e é gratuita quando o problema é da rede.",
    ),
    (
        "Como falar com o financeiro?",
        "O financeiro atende de segunda a sexta, das 8h às 17h, pelo WhatsApp e pelo e-mail financeiro@provedor.com.br.",
    ),
    (
        "Vocês oferecem desconto para pagamento adiantado?",
        "Pagando até o vencimento você ganha R$ 10 de desconto na mensalidade.",
    ),
    (
        "Quais documentos preciso para contratar?",
        "Basta RG ou CNH, CPF e um comprovante de endereço em seu nome ou de familiar.",
    ),
    (
        "Posso contratar sendo empresa?",
        "Sim, temos planos empresariais com CNPJ, nota fiscal e atendimento prioritário.",
    ),
    (
        "O técnico pode passar o cabo por dentro da parede?",
        "A instalação padrão usa até 50 metros de cabo por fora; passagem por conduíte existente é feita sem custo.",
    ),
    (
        "Qual o preço do plano de 1 Giga?",
        "O plano de 1 Giga custa R$ 149,90 por mês com fidelidade, e inclui roteador Wi-Fi 6.",
    ),
    (
        "Como recebo a nota fiscal?",
        "A nota fiscal é enviada todo mês para o seu e-mail cadastrado e também fica no app.",
    ),
    (
        "Como indicar um amigo?",
        "Indicando um amigo que contratar, você ganha uma mensalidade de 50% de desconto.",
    ),
    (
        "Vocês atendem zona rural?",
        "Na zona rural atendemos por rádio, com planos de 20 e 50 Mega, conforme a viabilidade técnica.",
    ),
    (
        "Posso suspender a internet temporariamente?",
        "Sim, você pode suspender o serviço por até 90 dias por ano, sem cobrança da mensalidade nesse período.",
    ),
    # Shop (clothing and shoes, online and physical)
    (
        "Qual o prazo de entrega?",
        "A entrega leva de 2 a 5 dias úteis para capitais e de 5 a 10 dias úteis para o interior.",
    ),
    (
        "Qual o valor do frete?",
        "O frete é calculado pelo CEP no carrinho; compras acima de R$ 199 têm frete grátis para todo o Brasil.",
    ),
    (
        "Como rastrear meu pedido?",
        "O código de rastreio é enviado por e-mail quando o pedido é despachado; acompanhe também em Meus Pedidos no site.",
    ),
    (
        "Posso parcelar a compra?",
        "Parcelamos em até 6 vezes sem juros no cartão de crédito, com parcela mínima de R$ 30.",
    ),
    (
        "Quais formas de pagamento a loja aceita?",
        "Aceitamos cartão de crédito, Pix com 5% de desconto, boleto e carteiras digitais.",
    ),
    (
        "Como trocar um produto?",
        "A primeira troca é grátis em até 30 dias: solicite em Meus Pedidos e envie o produto pelos Correios com o código que mandamos.",
    ),
    (
        "Como devolver um produto e receber o dinheiro de volta?",
        "Você tem 7 dias após o recebimento para desistir da compra; o estorno sai em até 10 dias após recebermos o produto.",
    ),
    (
        "Qual a tabela de medidas?",
        "A tabela de medidas fica na página de cada produto; em dúvida entre dois tamanhos, escolha o maior.",
    ),
    (
        "Vocês têm loja física?",
        "Sim, nossa loja física fica na Rua das Flores, 123, Centro, e abre de segunda a sábado das 9h às 19h.",
    ),
    (
        "Posso retirar o pedido na loja?",
        "Sim, escolha Retirar na loja no checkout; o pedido fica pronto em até 2 horas e sem frete.",
    ),
    (
        "O produto chegou com defeito, o que faço?",
        "Envie fotos do defeito pelo WhatsApp; fazemos a troca ou o reembolso sem custo de frete.",
    ),
    (
        "O pedido veio errado, e agora?",
        "Se chegou um item diferente do comprado, mande uma foto aqui: enviamos o correto e buscamos o errado sem custo.",
    ),
    (
        "Como cancelar um pedido?",
        "Pedidos ainda não despachados podem ser cancelados em Meus Pedidos; depois do envio, recuse a entrega ou peça devolução.",
    ),
    (
        "Vocês emitem nota fiscal?",
        "Sim, a nota fiscal eletrônica segue por e-mail junto com a confirmação de envio.",
    ),
    (
        "Tem cupom de desconto para primeira compra?",
        "Use o cupom BEMVINDO10 para 10% de desconto na primeira compra acima de R$ 100.",
    ),
    (
        "Como funciona o programa de pontos?",
        "Cada real gasto vira um ponto; 100 pontos valem R$ 5 de desconto na próxima compra.",
    ),
    (
        "O produto esgotado vai voltar ao estoque?",
        "Clique em Avise-me na página do produto e mandamos um e-mail quando ele voltar ao estoque.",
    ),
    ("Vocês entregam no exterior?", "Por enquanto entregamos apenas no Brasil."),
    (
        "Posso mudar o endereço de entrega depois da compra?",
        "O endereço pode ser alterado enquanto o pedido não for despachado; fale conosco com o número do pedido.",
    ),
    (
        "Meu pagamento não foi aprovado, o que fazer?",
        "Confira os dados do cartão e o limite disponível ou tente pagar por Pix; pedidos não pagos são cancelados em 48 horas.",
    ),
    (
        "Quanto tempo o Pix demora para confirmar?",
        "O pagamento por Pix é confirmado em poucos minutos e o pedido segue para separação na hora.",
    ),
    (
        "O boleto demora quanto para compensar?",
        "O boleto compensa em até 3 dias úteis; o prazo de entrega começa a contar depois da compensação.",
    ),
    (
        "Vocês vendem no atacado?",
        "Sim, para revenda temos preços de atacado a partir de 12 peças; peça o catálogo pelo e-mail atacado@loja.com.br.",
    ),
    (
        "Como lavar as peças de couro?",
        "Peças de couro não vão na máquina: limpe com pano úmido e hidrate com creme próprio a cada três meses.",
    ),
    (
        "Os tênis têm garantia?",
        "Todos os calçados têm garantia de 90 dias contra defeitos de fabricação.",
    ),
    (
        "Vocês fazem embrulho para presente?",
        "Sim, a embalagem de presente custa R$ 5 e pode ter um cartão com a sua mensagem.",
    ),
    (
        "Como falar com um vendedor?",
        "Nossos vendedores atendem pelo WhatsApp de segunda a sábado, das 9h às 19h.",
    ),
    (
        "Tem vale-presente?",
        "Vendemos vale-presente digital de R$ 50 a R$ 500, válido por 6 meses no site e na loja.",
    ),
    (
        "A loja tem estacionamento?",
        "Temos convênio com o estacionamento ao lado: 1 hora grátis em compras acima de R$ 100.",
    ),
    (
        "Vocês vendem tamanhos grandes?",
        "Sim, a coleção plus size vai do 46 ao 56 em quase todos os modelos.",
    ),
    (
        "Como me cadastrar no site?",
        "Clique em Entrar, depois em Criar conta, e preencha nome, e-mail, CPF e uma senha.",
    ),
    (
        "Esqueci a senha do site, como recupero?",
        "Clique em Esqueci minha senha na tela de login; enviamos um link para o seu e-mail.",
    ),
    (
        "O site é seguro para comprar?",
        "Sim, o site tem certificado SSL e os pagamentos são processados por um intermediador certificado PCI.",
    ),
    (
        "Posso comprar pelo WhatsApp?",
        "Sim, mande a foto ou o nome do produto e o tamanho, e enviamos um link de pagamento.",
    ),
    (
        "Vocês têm black friday?",
        "Na Black Friday temos descontos de até 50% em todo o site, divulgados com antecedência no nosso Instagram.",
    ),
    # Clinic (medical and dental)
    (
        "Qual o horário de atendimento da clínica?",
        "A clínica atende de segunda a sexta das 7h às 20h e aos sábados das 7h às 13h.",
    ),
    (
        "Como marcar uma consulta?",
        "Agende pelo WhatsApp, pelo site ou pelo telefone (11) 3333-4444, informando nome completo, CPF e a especialidade.",
    ),
    (
        "Quais convênios vocês aceitam?",
        "Aceitamos Unimed, Bradesco Saúde, SulAmérica, Amil e Porto Seguro; confira a cobertura do seu plano ao agendar.",
    ),
    (
        "Qual o valor da consulta particular?",
        "A consulta particular custa R$ 250 com clínico geral e R$ 350 com especialistas.",
    ),
    (
        "Como cancelar ou remarcar uma consulta?",
        "Cancele ou remarque com até 24 horas de antecedência pelo WhatsApp; faltas sem aviso podem ser cobradas.",
    ),
    (
        "Quais especialidades a clínica tem?",
        "Temos clínica geral, cardiologia, dermatologia, ginecologia, pediatria, ortopedia e odontologia.",
    ),
    (
        "Vocês fazem exame de sangue?",
        "Sim, a coleta de exames de sangue é feita de segunda a sábado, das 6h30 às 10h, sem agendamento.",
    ),
    (
        "Precisa de jejum para o exame de sangue?",
        "Para glicemia e colesterol o jejum é de 8 a 12 horas; água pode. Outros exames não pedem jejum.",
    ),
    (
        "Como pego o resultado dos exames?",
        "Os resultados ficam no portal do paciente em até 3 dias úteis; o login é o seu CPF.",
    ),
    (
        "A clínica atende crianças?",
        "Sim, temos pediatria para crianças de 0 a 14 anos, com horário marcado.",
    ),
    (
        "Vocês atendem emergência?",
        "Não somos pronto-socorro. Em emergência, procure o hospital mais próximo ou ligue 192 (SAMU).",
    ),
    (
        "Tem atendimento por telemedicina?",
        "Sim, fazemos teleconsulta por vídeo em clínica geral, dermatologia e psicologia, com o mesmo valor da presencial.",
    ),
    (
        "Quanto tempo antes devo chegar para a consulta?",
        "Chegue 15 minutos antes para o cadastro, com documento com foto e a carteirinha do convênio.",
    ),
    (
        "Quais documentos levar na consulta?",
        "Leve documento com foto, carteirinha do convênio, pedido médico se houver e exames anteriores.",
    ),
    (
        "Vocês fazem limpeza nos dentes?",
        "Sim, a limpeza dental com o dentista custa R$ 180 e leva cerca de 40 minutos.",
    ),
    (
        "Quanto custa clareamento dental?",
        "O clareamento a laser custa R$ 900 em duas sessões; o caseiro com moldeira sai por R$ 600.",
    ),
    (
        "Vocês colocam aparelho nos dentes?",
        "Sim, trabalhamos com aparelho fixo e alinhadores transparentes; a avaliação ortodôntica é gratuita.",
    ),
    (
        "A clínica tem estacionamento?",
        "Há estacionamento conveniado em frente, com 2 horas gratuitas para pacientes.",
    ),
    (
        "A clínica tem acessibilidade?",
        "Sim, temos rampa, elevador, banheiro adaptado e atendimento prioritário.",
    ),
    (
        "Como pedir uma receita ou atestado?",
        "Receitas e atestados são emitidos só na consulta; a segunda via digital pode ser pedida no portal.",
    ),
    (
        "Vocês fazem vacina?",
        "Aplicamos vacinas de gripe, HPV, hepatite e febre amarela, com ou sem agendamento, de segunda a sexta.",
    ),
    (
        "Quanto tempo demora o atendimento?",
        "Com hora marcada, a espera média é de 15 minutos; a consulta dura cerca de 30 minutos.",
    ),
    (
        "Posso parcelar tratamento odontológico?",
        "Tratamentos odontológicos podem ser parcelados em até 10 vezes sem juros no cartão.",
    ),
    (
        "Vocês fazem ultrassom?",
        "Sim, fazemos ultrassom de abdome, obstétrico, de tireoide e de mamas, com agendamento.",
    ),
    (
        "Preciso de pedido médico para exame?",
        "Exames pelo convênio precisam de pedido médico; exames particulares podem ser feitos sem pedido, exceto os de imagem.",
    ),
    (
        "Onde fica a clínica?",
        "Estamos na Avenida Brasil, 1500, sala 301, ao lado da estação de metrô.",
    ),
    (
        "Como funciona o check-up?",
        "O check-up completo inclui consulta, exames de sangue, eletrocardiograma e ultrassom, e custa R$ 890.",
    ),
    (
        "Vocês atendem idosos em casa?",
        "Temos atendimento domiciliar para idosos e acamados, com clínico geral e enfermagem, mediante agendamento.",
    ),
    (
        "Como falar com o meu médico depois da consulta?",
        "Dúvidas sobre a consulta podem ser enviadas pelo portal do paciente; o médico responde em até 2 dias úteis.",
    ),
    (
        "Tem psicólogo na clínica?",
        "Sim, temos psicólogos para adultos e adolescentes, com sessões de 50 minutos presenciais ou online.",
    ),
    (
        "Aceitam cartão de débito na clínica?",
        "Aceitamos débito, crédito, Pix e dinheiro; o convênio não cobra nada no atendimento.",
    ),
    (
        "Meu convênio precisa de autorização?",
        "Alguns procedimentos precisam de autorização prévia do convênio; cuidamos do pedido e avisamos em até 2 dias úteis.",
    ),
    (
        "Vocês fazem eletrocardiograma?",
        "Sim, o eletrocardiograma é feito na hora, sem agendamento, por R$ 120 particular.",
    ),
]

# (question, the FAQ question it must find)
QUESTIONS: list[tuple[str, str]] = [
    ("funcionam no sábado?", "Qual o horário de funcionamento da loja?"),
    ("posso parcelar no crédito?", "Posso parcelar a compra?"),
    ("quanto tempo demora pra chegar?", "Qual o prazo de entrega?"),
    ("até que horas vocês abrem?", "Qual o horário de funcionamento da loja?"),
    ("minha net caiu do nada", "Estou sem internet, o que fazer?"),
    ("a net tá uma carroça hj", "A internet está lenta, o que fazer?"),
    ("esqueci a senha do wifi como muda", "Como trocar a senha do Wi-Fi?"),
    ("qro cancelar essa porcaria", "Como cancelar o contrato?"),
    ("tem multa se eu sair antes?", "Existe multa de fidelidade?"),
    ("preciso do boleto de novo perdi", "Como emitir a segunda via do boleto?"),
    ("paguei agr, qnd volta minha conexão?", "Como religar a internet depois de pagar?"),
    ("chega fibra no meu bairro?", "Vocês atendem o meu endereço?"),
    ("vou me mudar, levo a internet junto?", "Posso mudar a internet de endereço?"),
    ("quanto é o de 1 giga", "Qual o preço do plano de 1 Giga?"),
    ("tem limite de uso? acaba a internet no fim do mes?", "Tem franquia de dados?"),
    ("o tecnico vem quando instalar?", "Qual o prazo de instalação?"),
    ("paga pra instalar?", "A instalação é cobrada?"),
    ("atrasei a conta, vão cortar?", "O que acontece se eu atrasar o pagamento?"),
    (
        "vou viajar 2 meses, da pra pausar a internet?",
        "Posso suspender a internet temporariamente?",
    ),
    ("quais velocidades vcs tem", "Quais são os planos de internet?"),
    ("frete é de graça?", "Qual o valor do frete?"),
    ("cadê meu pedido??", "Como rastrear meu pedido?"),
    ("a blusa ficou pequena, da pra trocar", "Como trocar um produto?"),
    (
        "me arrependi, quero meu dinheiro de volta",
        "Como devolver um produto e receber o dinheiro de volta?",
    ),
    ("o tenis veio descolando", "O produto chegou com defeito, o que faço?"),
    ("mandaram a cor errada", "O pedido veio errado, e agora?"),
    ("da pra buscar ai pessoalmente?", "Posso retirar o pedido na loja?"),
    ("tem desconto no pix?", "Quais formas de pagamento a loja aceita?"),
    ("tem cupom pra quem ta comprando a 1a vez?", "Tem cupom de desconto para primeira compra?"),
    ("meu cartao foi recusado", "Meu pagamento não foi aprovado, o que fazer?"),
    ("tem GG? vcs vendem numero grande?", "Vocês vendem tamanhos grandes?"),
    ("como sei meu numero de calça", "Qual a tabela de medidas?"),
    ("quando volta o que ta esgotado", "O produto esgotado vai voltar ao estoque?"),
    ("consigo comprar direto por aqui no zap?", "Posso comprar pelo WhatsApp?"),
    ("quero marcar com o cardiologista", "Como marcar uma consulta?"),
    ("aceita unimed?", "Quais convênios vocês aceitam?"),
    ("quanto sai a consulta sem plano", "Qual o valor da consulta particular?"),
    ("não vou conseguir ir amanhã, posso mudar o dia?", "Como cancelar ou remarcar uma consulta?"),
    ("pode comer antes de tirar sangue?", "Precisa de jejum para o exame de sangue?"),
    ("onde vejo meus exames", "Como pego o resultado dos exames?"),
    ("meu filho tem 5 anos, vcs atendem?", "A clínica atende crianças?"),
    ("dá pra consultar por video chamada?", "Tem atendimento por telemedicina?"),
    ("quero deixar os dentes mais brancos, qto custa", "Quanto custa clareamento dental?"),
    ("vcs poe aparelho?", "Vocês colocam aparelho nos dentes?"),
    ("tem dentista pra limpar os dente?", "Vocês fazem limpeza nos dentes?"),
    ("estou com dor no peito forte agora", "Vocês atendem emergência?"),
    ("tem vacina da gripe?", "Vocês fazem vacina?"),
    ("minha mãe é acamada, o médico vai em casa?", "Vocês atendem idosos em casa?"),
]

ISSUE_QUESTIONS = QUESTIONS[:4]
