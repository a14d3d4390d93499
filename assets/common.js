// OrderSync — helpers shared by every page: API calls, live sockets, i18n, formatting.
'use strict';

const OS = (() => {
  const STRINGS = {
    ko: {
      table: '테이블', cart: '장바구니', add: '담기', order: '주문하기', required: '필수', optional: '선택',
      soldout: '품절', qty: '수량', special: '요청 사항', specialHint: '예) 양파 빼주세요 (200자 이내)',
      total: '합계', empty: '장바구니가 비어 있습니다', close: '닫기', remove: '삭제', items: '개',
      ordering: '주문하는 중…', orderFailed: '주문하지 못했습니다', retry: '다시 시도',
      status_PENDING: '접수 대기', status_ACCEPTED: '접수됨', status_READY: '준비 완료',
      status_COMPLETED: '완료', status_REJECTED: '거절됨', status_CANCELLED: '취소됨',
      pay_PENDING: '결제 대기', pay_PAID: '결제 완료', pay_REFUND_PENDING: '환불 진행 중', pay_REFUNDED: '환불 완료',
      orderNumber: '주문 번호', eta: '예상 준비 시간', readyNow: '곧 준비됩니다', reason: '사유',
      payNow: '결제하기', cancelOrder: '주문 취소', cancelConfirm: '주문을 취소할까요?',
      reconnecting: '연결이 끊겼습니다. 다시 연결하는 중…', notYours: '이 기기에서 주문한 내역을 찾을 수 없습니다.',
      badLink: 'QR 코드 링크가 올바르지 않습니다. 테이블의 QR 코드를 다시 스캔해 주세요.',
      sessionEnded: '테이블 이용 시간이 끝났습니다. 주문을 이어 가려면 테이블의 QR 코드를 다시 스캔해 주세요.',
      closed: '지금은 테이블 주문을 받지 않습니다.', orderMore: '추가 주문하기', payCounter: '결제는 카운터에서 해 주세요', lang: 'EN',
      thanks: '이용해 주셔서 감사합니다.',
      // Owner
      login: '로그인', email: '이메일', password: '비밀번호', logout: '로그아웃', loginFailed: '이메일 또는 비밀번호가 틀렸습니다',
      colNew: '신규', colAccepted: '접수', colReady: '준비 완료', accept: '접수', reject: '거절', markReady: '준비 완료',
      complete: '완료', minutes: '분', rejectTitle: '주문 거절', rejectNote: '결제된 주문은 자동으로 환불됩니다.',
      send: '보내기', todayOrders: '오늘 주문', todayRevenue: '오늘 매출', sound: '🔔 소리 켜기', soundOn: '🔔 소리 켜짐',
      tabOrders: '주문', tabMenu: '메뉴', tabQr: 'QR 코드', onSale: '판매 중', markSoldOut: '품절로', markOnSale: '판매 재개',
      unpaid: '결제 전에는 접수할 수 없습니다', newOrder: '새 주문', paid: '결제 완료', postpay: '후불',
      reasons: ['재료 소진', '주문이 많아 준비할 수 없습니다', '영업 종료'], other: '직접 입력',
      // QR
      qrTitle: '테이블 QR 코드', tables: '테이블 번호 (예: 1-20)', baseUrl: '접속 주소', make: '만들기', print: '인쇄',
      // Pay
      testMode: '테스트 모드', testModeNote: '실제 결제가 이루어지지 않습니다. 승인 또는 거절을 눌러 결제 과정을 확인하세요.',
      approve: '결제 승인', decline: '결제 거절', confirming: '결제를 확인하는 중…', declined: '결제가 거절되었습니다',
      providerDown: '결제 확인이 지연되고 있습니다. 잠시 후 주문 화면에서 자동으로 반영됩니다.', toOrder: '주문 보기',
      payAgain: '다시 결제하기', payFailed: '결제가 완료되지 않았습니다', loading: '불러오는 중…',
      network: '네트워크 연결을 확인해 주세요', tooMany: '요청이 너무 많습니다. 잠시 후 다시 시도해 주세요',
      serverBusy: '서버가 잠시 응답하지 않습니다. 잠시 후 다시 시도해 주세요', checking: '주문을 확인하는 중…',
      soldOutRemoved: '품절되어 장바구니에서 뺐습니다', linkRetry: '연결하지 못했습니다. 다시 시도해 주세요',
      awaitingPayment: '결제 대기', alreadyPaid: '이미 결제된 주문입니다',
      testPayment: '테스트 결제', testPaymentNote: '테스트 결제 — 실제로 청구되지 않았습니다',
      payAtCounterNote: '결제는 식사 후 카운터에서 해 주세요.', counterPaymentOutage: '지금은 인터넷 장애로 온라인 결제를 받을 수 없어, 결제는 카운터에서 해 주세요.',
      refundsPending: '환불 대기', refundRetrying: '자동으로 다시 시도 중',
      // Table service
      ourTable: '우리 테이블', ourTableOrders: '우리 테이블 주문', tabTotal: '합계', tabPaid: '결제됨', tabRemaining: '남은 금액',
      mine: '내 주문', noOrdersYet: '아직 주문이 없습니다', backToMenu: '메뉴 보기 · 추가 주문',
      call_WATER: '💧 물', call_CUTLERY: '🥢 수저·앞접시', call_BILL: '🧾 계산서', call_STAFF: '🙋 직원 호출',
      callSent: '요청했습니다. 곧 가겠습니다', callOpen: '요청됨', callAcked: '확인했습니다',
      callsTitle: '직원 호출', payTabNote: '계산은 카운터에서 합니다. 계산서를 요청하면 직원이 안내해 드립니다.',
      tableClosed: '이 테이블의 이용이 끝났습니다. 새로 주문하려면 테이블의 QR 코드를 다시 스캔해 주세요.',
      readyDefault: '주문하신 메뉴가 준비되었습니다!',
      tabTables: '테이블', tabHistory: '오늘 내역', tabSettings: '설정', noOpenTables: '이용 중인 테이블이 없습니다',
      sinceLastOrder: '마지막 주문', minutesAgo: '분 전', justNow: '방금', waitingFood: '조리 중', eating: '식사 중',
      billRequested: '계산 요청', callOpenLabel: '호출', ack: '확인', settle: '결제 받기', settleAmount: '받을 금액',
      method_CASH: '현금', method_CARD: '카드', method_OTHER: '기타', closeTable: '테이블 정리',
      closeUnpaid: '아직 결제되지 않은 금액이 있습니다. 그래도 테이블을 정리할까요?', moveTo: '이동할 테이블', move: '이동',
      mergeInto: '합석할 테이블', merge: '합석', search: '주문 번호 또는 테이블 검색', date: '날짜',
      liveDown: '실시간 연결이 끊겼습니다. 새 주문이 보이지 않을 수 있습니다 — 다시 연결하는 중…',
      soundOff: '🔕 소리 꺼짐', soundBlocked: '🔕 소리 꺼짐 — 화면을 한 번 눌러 주세요', soundOnShort: '🔔 소리',
      cancelledByCustomer: '주문 취소', refundConfirm: '결제된 주문입니다. 거절하면 {amount}이 환불됩니다. 거절할까요?',
      readyMessage: '준비 완료 안내 문구', readyMessageHint: '예) 자리로 가져다 드릴게요 / 카운터에서 받아 가세요',
      overpaid: '환불 필요', tableListLabel: '테이블 목록', tableListHint: '예) 1-12, 테라스1 — 테이블 화면과 QR 코드에 쓰입니다', emptyTable: '빈 테이블',
      save: '저장', saved: '저장했습니다', settled: '결제를 기록했습니다', tableNumber: '테이블', ordersCount: '주문',
      testRevenueNote: '테스트 결제',
      payTabTitle: '휴대폰으로 결제', payAll: '남은 금액 모두', payMine: '내 주문만', paySplit: '나눠 내기',
      people: '명', payShare: '1명 몫 결제', payOrCounter: '카운터에서 결제해도 됩니다.',
      localBase: '이 주소는 이 기기에서만 열립니다. 손님 휴대폰이 접속할 수 있는 주소(예: http://192.168.0.10:8080)를 입력하세요.',
      allergensLabel: '알레르기 유발 성분', originLabel: '원산지', without: '{a} 제외', filterAllergens: '알레르기 필터',
      hiddenByFilter: '알레르기 필터로 메뉴 {n}개를 숨겼습니다', filterNote: '고른 성분이 든 메뉴를 숨깁니다. 가게가 적은 정보이니 걱정되면 직원에게 물어보세요.',
      uploadPhoto: '사진 올리기', removePhoto: '사진 빼기', photoHint: 'JPEG·PNG·WebP, 10MB까지. 위치 정보는 지워지고 크기에 맞게 줄여 저장됩니다.',
      translations: '번역 (영어·중국어·일본어)', editName: '이름', editDescription: '설명', editPrice: '가격 (원)', editCategory: '분류',
      editPhoto: '사진 주소', optionName: '옵션 이름', multiple: '여러 개 선택', choice: '선택지', extraPrice: '추가 금액',
      addChoice: '선택지 추가', newItem: '새 메뉴', newCategory: '새 분류', originHint: '예) 닭고기: 국내산, 감자: 미국산', options: '옵션',
      addOption: '옵션 추가', archiveItem: '메뉴 삭제', archiveConfirm: '이 메뉴를 삭제할까요? 지난 주문 내역은 그대로 남습니다.',
      categoryName: '분류 이름', deleteCategoryConfirm: '이 분류와 안의 메뉴를 모두 삭제할까요?', addItem: '메뉴 추가', addCategory: '분류 추가',
      unsaved: '저장하지 않은 변경 사항이 있습니다', discard: '되돌리기', discardConfirm: '저장하지 않은 변경 사항을 버릴까요?',
      method_ONLINE: '온라인', method_COUNTER: '카운터', method_TEST: '테스트 결제',
      tabReports: '매출', downloadCsv: 'CSV 내려받기', group_day: '날짜별', group_hour: '시간대별', group_item: '메뉴별', group_category: '분류별',
      group_payment_method: '결제 수단별', reportOrders: '주문', reportItems: '수량', reportGross: '판매액', reportNet: '순매출', reportRefunds: '환불',
      reportOnline: '온라인', reportCounter: '카운터', reportKey: '구분', hourSuffix: '시', noSales: '이 기간에는 매출이 없습니다',
      fixField: '고칠 곳', priceMissing: '가격을 입력하세요 (무료라면 0)', menuSaved: '메뉴를 저장했습니다. 손님 화면에 바로 반영됩니다', leaveConfirm: '저장하지 않은 메뉴 변경 사항이 있습니다. 버리고 나갈까요?',
      settingsName: '가게 이름', settingsOrdering: '테이블 주문 받기', settingsOrderingHint: '끄면 손님 메뉴에 “지금은 주문을 받지 않습니다”가 표시됩니다 (잠시 멈춤).',
      settingsPaymentMode: '결제 방식', mode_PREPAY: '선불 — 주문할 때 휴대폰으로 결제', mode_POSTPAY: '후불 — 식사 후 카운터 또는 테이블에서 결제',
      payments_toss: '온라인 결제: 토스페이먼츠 키가 설정되어 있습니다', payments_simulated: '온라인 결제: 테스트 모드 (실제 청구 없음)',
      payments_off: '온라인 결제 꺼짐: 토스페이먼츠 키가 없어 카운터 결제만 됩니다', settingsTimeZone: '시간대', settingsTimeZoneHint: '영업일과 주문 번호가 바뀌는 기준 (한국: Asia/Seoul)',
      settingsVerification: '테이블 확인', verify_QR: 'QR 코드로 확인 (권장)', verify_OPEN: '확인 안 함', settingsVerificationHint: 'QR 코드로 확인하면 테이블 번호를 바꿔 다른 테이블로 주문할 수 없습니다.',
      allergen_EGG: '알류(달걀)', allergen_MILK: '우유', allergen_BUCKWHEAT: '메밀', allergen_PEANUT: '땅콩', allergen_SOYBEAN: '대두',
      allergen_WHEAT: '밀', allergen_MACKEREL: '고등어', allergen_CRAB: '게', allergen_SHRIMP: '새우', allergen_PORK: '돼지고기',
      allergen_PEACH: '복숭아', allergen_TOMATO: '토마토', allergen_SULFITES: '아황산류', allergen_WALNUT: '호두', allergen_CHICKEN: '닭고기',
      allergen_BEEF: '쇠고기', allergen_SQUID: '오징어', allergen_SHELLFISH: '조개류(굴·전복·홍합)', allergen_PINE_NUT: '잣',
      // Printers
      tabStaff: '직원', tabSoldOut: '품절', addStaff: '직원 추가', staffName: '이름', staffRole: '역할', role_OWNER: '사장님', role_STAFF: '홀 직원', role_KITCHEN: '주방',
      staffHint: '홀 직원: 주문 접수·거절·완료, 테이블, 호출, 품절. 주방: 주방 화면에서 완료 표시만. 메뉴·설정·매출·직원 관리는 사장님만 할 수 있습니다.',
      noStaff: '아직 직원 계정이 없습니다', resetPassword: '비밀번호 재설정', newPassword: '새 비밀번호', removeStaff: '삭제',
      resetPasswordHint: '재설정하면 이 계정은 모든 기기에서 바로 로그아웃됩니다.', removeStaffConfirm: '{name} 계정을 삭제할까요? 모든 기기에서 바로 로그아웃됩니다.',
      orderLog: '기록', actorGuest: '손님', actorSystem: '자동',
      qrMovedTitle: 'QR 코드 주소가 바뀌었습니다.', qrMovedText: '인쇄된 QR 코드는 {host}(으)로 연결되지만 이 기기의 주소는 지금 {addresses}입니다. 손님이 QR 코드로 주문할 수 없습니다. 공유기 설정의 "DHCP 고정 할당(주소 예약)"에서 이 기기(MAC {mac})에 {host} 주소를 고정하거나, QR 코드를 다시 인쇄해 붙이세요.',
      reprintQr: 'QR 코드 다시 인쇄', tossDown: '인터넷 장애: 토스페이먼츠에 연결할 수 없습니다 ({since}부터). 손님이 온라인 결제를 할 수 없습니다.',
      switchToCounter: '인터넷 장애: 카운터 결제로 전환', switchToCounterConfirm: '새 주문을 카운터에서 결제받을까요? 이미 결제된 주문은 그대로입니다.',
      counterPaymentOn: '카운터 결제 중 (인터넷 장애, {since}부터): 새 주문은 카운터나 테이블 계산으로 결제합니다.', tossStillDown: '토스페이먼츠에 아직 연결되지 않습니다.',
      switchBackOnline: '온라인 결제로 되돌리기', clockBehind: '기기 시계가 마지막 주문보다 {n}분 늦습니다. 시간을 맞춰 주세요 (영업일과 주문 시각이 시계를 따릅니다).',
      clockBack: '기기 시계가 {n}분 뒤로 바뀌었습니다. 시간이 맞는지 확인하세요.', clockAhead: '기기 시계가 {n}분 앞으로 바뀌었습니다. 시간이 맞는지 확인하세요.',
      serverRestarted: '서버가 다시 시작되었습니다 ({at}). 주문과 화면은 그대로 이어집니다.',
      deviceStatus: '기기 상태', guestPageOn: '손님 주문 페이지', macAddress: 'MAC 주소 (공유기 주소 고정에 필요)', printedQr: '인쇄된 QR 코드 주소',
      qr_HERE: '이 기기', qr_MOVED: '바뀜 — 다시 인쇄하거나 공유기에서 주소를 고정하세요', qr_NOT_CHECKED: '이름 주소 (확인 안 함)', qrNotPrinted: '아직 인쇄 안 함',
      certificate: '인증서', expires: '만료', diskFree: '남은 디스크', clockNow: '기기 시각', tossReachable: '연결됨', tossUnreachable: '연결 안 됨 (인터넷 장애?)',
      tabPrinters: '프린터', tabKitchen: '주방 화면', printerError: '프린터 오류', printerName: '이름',
      printerAddress: '주소 (IP:포트)', paperWidth: '용지 폭', encoding: '문자 코드', printOn: '출력 시점',
      printOn_ACCEPTED: '접수할 때', printOn_NEW_ORDER: '주문이 들어올 때', printerCategories: '출력할 메뉴 (아무것도 고르지 않으면 전체)',
      addPrinter: '프린터 추가', testPrint: '테스트 출력', removePrinter: '삭제', removePrinterConfirm: '이 프린터를 삭제할까요? 출력 대기 중인 주문은 버려집니다.',
      reprint: '재출력', waitingJobs: '출력 대기', retryNow: '다시 시도', dropJob: '버리기', dropConfirm: '이 출력을 버릴까요? 주방에 전달되지 않습니다.',
      noPrinters: '등록된 프린터가 없습니다', printerHint: '주방 프린터의 IP 주소와 포트(보통 9100)를 입력하세요. 한국 프린터는 대부분 EUC-KR입니다. 저장한 뒤 테스트 출력으로 확인하세요.',
      testQueued: '테스트 출력을 보냈습니다', noPrinterForOrder: '이 주문의 메뉴를 출력하는 프린터가 없습니다', reprintQueued: '재출력을 보냈습니다', showPrinters: '프린터 보기', allPrinted: '대기 중인 출력이 없습니다',
      kind_ORDER: '주문', kind_CANCEL: '취소', kind_REPRINT: '재출력', kind_TEST: '테스트', attempts: '시도',
      err_reach: '연결 안 됨 (전원·케이블·IP 확인)', err_paper: '용지 없음', err_offline: '프린터 오프라인 (덮개 열림 등)', err_silent: '응답 없음',
    },
    en: {
      table: 'Table', cart: 'Cart', add: 'Add', order: 'Place order', required: 'required', optional: 'optional',
      soldout: 'Sold out', qty: 'Quantity', special: 'Requests', specialHint: 'e.g. no onions (max 200 characters)',
      total: 'Total', empty: 'Your cart is empty', close: 'Close', remove: 'Remove', items: ' items',
      ordering: 'Placing order…', orderFailed: 'Could not place the order', retry: 'Try again',
      status_PENDING: 'Waiting', status_ACCEPTED: 'Accepted', status_READY: 'Ready',
      status_COMPLETED: 'Completed', status_REJECTED: 'Rejected', status_CANCELLED: 'Cancelled',
      pay_PENDING: 'Unpaid', pay_PAID: 'Paid', pay_REFUND_PENDING: 'Refund pending', pay_REFUNDED: 'Refunded',
      orderNumber: 'Order number', eta: 'Ready in', readyNow: 'Almost ready', reason: 'Reason',
      payNow: 'Pay now', cancelOrder: 'Cancel order', cancelConfirm: 'Cancel this order?',
      reconnecting: 'Connection lost. Reconnecting…', notYours: 'No order from this device was found.',
      badLink: 'This table link is not valid. Please scan the QR code on your table again.',
      sessionEnded: 'Your table session has ended. Scan the QR code on your table again to keep ordering.',
      closed: 'Table ordering is paused right now.', orderMore: 'Order more', payCounter: 'Please pay at the counter', lang: '한국어',
      thanks: 'Thank you!',
      login: 'Log in', email: 'Email', password: 'Password', logout: 'Log out', loginFailed: 'Wrong email or password',
      colNew: 'New', colAccepted: 'Accepted', colReady: 'Ready', accept: 'Accept', reject: 'Reject', markReady: 'Ready',
      complete: 'Complete', minutes: 'min', rejectTitle: 'Reject order', rejectNote: 'Paid orders are refunded automatically.',
      send: 'Send', todayOrders: 'Orders today', todayRevenue: 'Revenue today', sound: '🔔 Enable sound', soundOn: '🔔 Sound on',
      tabOrders: 'Orders', tabMenu: 'Menu', tabQr: 'QR codes', onSale: 'On sale', markSoldOut: 'Sold out', markOnSale: 'Back on sale',
      unpaid: 'Cannot accept before payment', newOrder: 'New order', paid: 'Paid', postpay: 'Pay at counter',
      reasons: ['Out of ingredients', 'Too busy right now', 'Closing'], other: 'Other',
      qrTitle: 'Table QR codes', tables: 'Tables (e.g. 1-20)', baseUrl: 'Address', make: 'Generate', print: 'Print',
      testMode: 'Test mode', testModeNote: 'Nothing is charged. Approve or decline to try the payment flow.',
      approve: 'Approve', decline: 'Decline', confirming: 'Confirming payment…', declined: 'Payment declined',
      providerDown: 'Payment confirmation is delayed; the order page will update automatically.', toOrder: 'View order',
      payAgain: 'Pay again', payFailed: 'Payment was not completed', loading: 'Loading…',
      network: 'Check your network connection', tooMany: 'Too many requests; please try again shortly',
      serverBusy: 'The server is not answering right now; please try again shortly', checking: 'Checking your order…',
      soldOutRemoved: 'Sold out; removed from your cart', linkRetry: 'Could not connect. Please try again',
      awaitingPayment: 'Awaiting payment', alreadyPaid: 'This order is already paid',
      testPayment: 'Test payment', testPaymentNote: 'Test payment — nothing was charged',
      payAtCounterNote: 'Please pay at the counter after your meal.', counterPaymentOutage: 'The internet is down, so online payment is not available right now: please pay at the counter.',
      refundsPending: 'Refunds owed', refundRetrying: 'retrying automatically',
      ourTable: 'Our table', ourTableOrders: "Our table's orders", tabTotal: 'Total', tabPaid: 'Paid', tabRemaining: 'Remaining',
      mine: 'Mine', noOrdersYet: 'No orders yet', backToMenu: 'Menu · order more',
      call_WATER: '💧 Water', call_CUTLERY: '🥢 Cutlery', call_BILL: '🧾 The bill', call_STAFF: '🙋 Call staff',
      callSent: 'Sent. Someone is on the way', callOpen: 'Requested', callAcked: 'On it',
      callsTitle: 'Call staff', payTabNote: 'The bill is paid at the counter. Ask for the bill and staff will help you.',
      tableClosed: 'This table has been closed. Scan the QR code on your table again to order.',
      readyDefault: 'Your order is ready!',
      tabTables: 'Tables', tabHistory: "Today's orders", tabSettings: 'Settings', noOpenTables: 'No tables in use',
      sinceLastOrder: 'Last order', minutesAgo: ' min ago', justNow: 'just now', waitingFood: 'Cooking', eating: 'Dining',
      billRequested: 'Bill requested', callOpenLabel: 'Call', ack: 'Done', settle: 'Take payment', settleAmount: 'Amount',
      method_CASH: 'Cash', method_CARD: 'Card', method_OTHER: 'Other', closeTable: 'Clear table',
      closeUnpaid: 'Part of the bill is unpaid. Clear the table anyway?', moveTo: 'Move to table', move: 'Move',
      mergeInto: 'Join table', merge: 'Join', search: 'Search order number or table', date: 'Date',
      liveDown: 'Live connection lost. New orders may not show — reconnecting…',
      soundOff: '🔕 Sound off', soundBlocked: '🔕 Sound off — tap the screen once', soundOnShort: '🔔 Sound',
      cancelledByCustomer: 'Order cancelled', refundConfirm: 'This order is paid. Rejecting it refunds {amount}. Reject?',
      readyMessage: 'Ready message', readyMessageHint: 'e.g. We will bring it to your table / Please pick it up at the counter',
      overpaid: 'To refund', tableListLabel: 'Tables', tableListHint: 'e.g. 1-12, Terrace1 — used by the table view and the QR sheet', emptyTable: 'Free',
      save: 'Save', saved: 'Saved', settled: 'Payment recorded', tableNumber: 'Table', ordersCount: 'Orders',
      testRevenueNote: 'Test payments',
      payTabTitle: 'Pay from your phone', payAll: 'Everything left', payMine: 'My orders', paySplit: 'Split',
      people: ' people', payShare: 'Pay one share', payOrCounter: 'You can also pay at the counter.',
      localBase: 'This address only works on this device. Enter one that phones on the shop Wi-Fi can reach (e.g. http://192.168.0.10:8080).',
      allergensLabel: 'Allergens', originLabel: 'Origin', without: 'No {a}', filterAllergens: 'Allergen filter',
      hiddenByFilter: 'Hidden by the allergen filter: {n}', filterNote: 'Hides dishes listing what you pick. The restaurant wrote this; if in doubt, ask the staff.',
      uploadPhoto: 'Upload photo', removePhoto: 'Remove photo', photoHint: 'JPEG, PNG or WebP up to 10 MB. Location data is removed and the photo resized.',
      translations: 'Translations (English, Chinese, Japanese)', editName: 'Name', editDescription: 'Description', editPrice: 'Price (KRW)', editCategory: 'Section',
      editPhoto: 'Photo URL', optionName: 'Option name', multiple: 'Several allowed', choice: 'Choice', extraPrice: 'Extra price',
      addChoice: 'Add choice', newItem: 'New item', newCategory: 'New section', originHint: 'e.g. Chicken: Korea, Potato: USA', options: 'Options',
      addOption: 'Add option', archiveItem: 'Delete item', archiveConfirm: 'Delete this item? Past orders keep it.',
      categoryName: 'Section name', deleteCategoryConfirm: 'Delete this section and all its items?', addItem: 'Add item', addCategory: 'Add section',
      unsaved: 'Unsaved changes', discard: 'Discard', discardConfirm: 'Discard the unsaved changes?',
      method_ONLINE: 'Online', method_COUNTER: 'Counter', method_TEST: 'Test payments',
      tabReports: 'Sales', downloadCsv: 'Download CSV', group_day: 'By day', group_hour: 'By hour', group_item: 'By item', group_category: 'By section',
      group_payment_method: 'By payment', reportOrders: 'Orders', reportItems: 'Items', reportGross: 'Sales', reportNet: 'Net', reportRefunds: 'Refunds',
      reportOnline: 'Online', reportCounter: 'Counter', reportKey: '', hourSuffix: ':00', noSales: 'No sales in this period',
      fixField: 'Please fix', priceMissing: 'Enter a price (0 if it is free)', menuSaved: 'Menu saved; guests see it at once', leaveConfirm: 'The menu has unsaved changes. Leave without saving?',
      settingsName: 'Restaurant name', settingsOrdering: 'Take table orders', settingsOrderingHint: 'Off: guests see that ordering is paused.',
      settingsPaymentMode: 'Payment', mode_PREPAY: 'Prepay — guests pay on their phone when ordering', mode_POSTPAY: 'Postpay — pay at the counter or the table after the meal',
      payments_toss: 'Online payment: Toss Payments keys are configured', payments_simulated: 'Online payment: test mode (nothing is charged)',
      payments_off: 'Online payment is off: no Toss Payments key, counter payment only', settingsTimeZone: 'Time zone', settingsTimeZoneHint: 'When the business day and order numbers roll over (Korea: Asia/Seoul)',
      settingsVerification: 'Table check', verify_QR: 'By QR code (recommended)', verify_OPEN: 'None', settingsVerificationHint: 'With the QR check nobody can order for another table by changing the number.',
      allergen_EGG: 'Egg', allergen_MILK: 'Milk', allergen_BUCKWHEAT: 'Buckwheat', allergen_PEANUT: 'Peanut', allergen_SOYBEAN: 'Soybean',
      allergen_WHEAT: 'Wheat', allergen_MACKEREL: 'Mackerel', allergen_CRAB: 'Crab', allergen_SHRIMP: 'Shrimp', allergen_PORK: 'Pork',
      allergen_PEACH: 'Peach', allergen_TOMATO: 'Tomato', allergen_SULFITES: 'Sulfites', allergen_WALNUT: 'Walnut', allergen_CHICKEN: 'Chicken',
      allergen_BEEF: 'Beef', allergen_SQUID: 'Squid', allergen_SHELLFISH: 'Shellfish (oyster, abalone, mussel)', allergen_PINE_NUT: 'Pine nut',
      tabStaff: 'Staff', tabSoldOut: 'Sold out', addStaff: 'Add account', staffName: 'Name', staffRole: 'Role', role_OWNER: 'Owner', role_STAFF: 'Floor staff', role_KITCHEN: 'Kitchen',
      staffHint: 'Floor staff: accept, reject, complete, tables, calls, sold out. Kitchen: marks orders ready on the kitchen display. Menu, settings, sales and staff are the owner\'s.',
      noStaff: 'No staff accounts yet', resetPassword: 'Reset password', newPassword: 'New password', removeStaff: 'Remove',
      resetPasswordHint: 'After a reset this account is logged out on every device at once.', removeStaffConfirm: 'Remove {name}? They are logged out on every device at once.',
      orderLog: 'Log', actorGuest: 'Guest', actorSystem: 'Automatic',
      qrMovedTitle: 'The QR code address changed.', qrMovedText: 'The printed QR codes lead to {host}, but this box is now at {addresses}: guests cannot order by QR code. Reserve {host} for this box (MAC {mac}) in the router\'s DHCP reservation settings, or print the QR codes again.',
      reprintQr: 'Print QR codes again', tossDown: 'Internet outage: Toss Payments cannot be reached (since {since}). Guests cannot pay online.',
      switchToCounter: 'Internet outage: switch to counter payment', switchToCounterConfirm: 'Take payment for new orders at the counter? Orders already paid stay as they are.',
      counterPaymentOn: 'Counter payment (internet outage, since {since}): new orders are paid at the counter or with the table.', tossStillDown: 'Toss Payments still cannot be reached.',
      switchBackOnline: 'Back to online payment', clockBehind: 'The clock is {n} minutes behind the newest order. Set the time (business days and order times follow it).',
      clockBack: 'The clock went back {n} minutes. Check the time.', clockAhead: 'The clock jumped ahead {n} minutes. Check the time.',
      serverRestarted: 'The server restarted ({at}). Orders and screens carried on.',
      deviceStatus: 'This box', guestPageOn: 'Guest page on', macAddress: 'MAC address (for an address reservation in the router)', printedQr: 'Printed QR code address',
      qr_HERE: 'this box', qr_MOVED: 'moved — reprint, or reserve the address in the router', qr_NOT_CHECKED: 'a name (not checked)', qrNotPrinted: 'not printed yet',
      certificate: 'Certificate', expires: 'expires', diskFree: 'Disk free', clockNow: 'Clock', tossReachable: 'reachable', tossUnreachable: 'unreachable (internet down?)',
      tabPrinters: 'Printers', tabKitchen: 'Kitchen screen', printerError: 'Printer problem', printerName: 'Name',
      printerAddress: 'Address (IP:port)', paperWidth: 'Paper width', encoding: 'Code page', printOn: 'Print when',
      printOn_ACCEPTED: 'accepted', printOn_NEW_ORDER: 'the order comes in', printerCategories: 'Menu sections to print (none ticked: all)',
      addPrinter: 'Add printer', testPrint: 'Test page', removePrinter: 'Remove', removePrinterConfirm: 'Remove this printer? Tickets waiting for it are dropped.',
      reprint: 'Reprint', waitingJobs: 'Waiting to print', retryNow: 'Retry now', dropJob: 'Drop', dropConfirm: 'Drop this ticket? The kitchen will not get it.',
      noPrinters: 'No printers yet', printerHint: "Enter the kitchen printer's IP address and port (usually 9100). Korean printers mostly use EUC-KR. Save, then print a test page.",
      testQueued: 'Test page sent', noPrinterForOrder: "No printer prints this order's items", reprintQueued: 'Reprint sent', showPrinters: 'Printers', allPrinted: 'Nothing waiting to print',
      kind_ORDER: 'Order', kind_CANCEL: 'Cancel', kind_REPRINT: 'Reprint', kind_TEST: 'Test', attempts: 'tries',
      err_reach: 'cannot connect (check power, cable, IP)', err_paper: 'out of paper', err_offline: 'printer offline (cover open?)', err_silent: 'no answer',
    },
    // Guests' pages in Chinese and Japanese; owner screens fall back to English.
    zh: {
      table: '桌号', cart: '购物车', add: '加入', order: '下单', required: '必选', optional: '可选',
      soldout: '售罄', qty: '数量', special: '备注', specialHint: '例如：不要洋葱（200字以内）',
      total: '合计', empty: '购物车是空的', close: '关闭', remove: '删除', items: '件',
      ordering: '正在下单…', orderFailed: '下单失败', retry: '重试',
      status_PENDING: '等待接单', status_ACCEPTED: '已接单', status_READY: '已备好',
      status_COMPLETED: '已完成', status_REJECTED: '已拒绝', status_CANCELLED: '已取消',
      pay_PENDING: '待付款', pay_PAID: '已付款', pay_REFUND_PENDING: '退款中', pay_REFUNDED: '已退款',
      orderNumber: '订单号', eta: '预计准备时间', readyNow: '马上就好', reason: '原因',
      payNow: '去付款', cancelOrder: '取消订单', cancelConfirm: '要取消这个订单吗？',
      reconnecting: '连接已断开，正在重新连接…', notYours: '找不到本设备下的订单。',
      badLink: '二维码链接无效，请重新扫描桌上的二维码。',
      sessionEnded: '本桌的点餐时间已结束。请重新扫描桌上的二维码继续点餐。',
      closed: '目前暂停扫码点餐。', orderMore: '继续点餐', payCounter: '请到柜台付款', lang: '语言',
      thanks: '谢谢惠顾！', loading: '加载中…', network: '请检查网络连接', tooMany: '请求过多，请稍后再试',
      serverBusy: '服务器暂时没有响应，请稍后再试', checking: '正在确认订单…', soldOutRemoved: '已售罄，已从购物车移除',
      linkRetry: '连接失败，请重试', awaitingPayment: '待付款', testMode: '测试模式', testModeNote: '不会实际扣款。',
      approve: '确认付款', decline: '拒绝付款', confirming: '正在确认付款…', declined: '付款被拒绝',
      providerDown: '付款确认延迟，订单页面会自动更新。', toOrder: '查看订单', payAgain: '重新付款', payFailed: '付款未完成',
      testPaymentNote: '测试付款 — 未实际扣款', payAtCounterNote: '用餐后请到柜台付款。', counterPaymentOutage: '网络故障，暂时无法在线付款，请到柜台付款。',
      ourTable: '我们这桌', ourTableOrders: '本桌订单', tabTotal: '合计', tabPaid: '已付', tabRemaining: '剩余',
      mine: '我的', noOrdersYet: '还没有订单', backToMenu: '菜单 · 继续点餐',
      call_WATER: '💧 水', call_CUTLERY: '🥢 餐具', call_BILL: '🧾 结账', call_STAFF: '🙋 呼叫服务员',
      callSent: '已通知，马上过来', callOpen: '已请求', callAcked: '好的', callsTitle: '呼叫服务员',
      payTabNote: '在柜台结账。需要结账时请呼叫服务员。', tableClosed: '本桌已结束。如需点餐请重新扫描二维码。',
      readyDefault: '您的餐点已备好！', payTabTitle: '用手机付款', payAll: '剩余全部', payMine: '只付我的',
      paySplit: '平摊', people: '人', payShare: '支付一人份', payOrCounter: '也可以在柜台付款。',
      allergensLabel: '过敏原', originLabel: '原产地',
      allergen_EGG: '蛋', allergen_MILK: '牛奶', allergen_BUCKWHEAT: '荞麦', allergen_PEANUT: '花生', allergen_SOYBEAN: '大豆',
      allergen_WHEAT: '小麦', allergen_MACKEREL: '鲭鱼', allergen_CRAB: '蟹', allergen_SHRIMP: '虾', allergen_PORK: '猪肉',
      allergen_PEACH: '桃', allergen_TOMATO: '番茄', allergen_SULFITES: '亚硫酸盐', allergen_WALNUT: '核桃', allergen_CHICKEN: '鸡肉',
      allergen_BEEF: '牛肉', allergen_SQUID: '鱿鱼', allergen_SHELLFISH: '贝类（牡蛎、鲍鱼、贻贝）', allergen_PINE_NUT: '松子',
      without: '不含{a}', filterAllergens: '过敏原筛选', hiddenByFilter: '因过敏原筛选隐藏了 {n} 个菜品',
      filterNote: '隐藏含所选成分的菜品。信息由店家填写，如有疑问请询问服务员。',
    },
    ja: {
      table: 'テーブル', cart: 'カート', add: '追加', order: '注文する', required: '必須', optional: '任意',
      soldout: '売り切れ', qty: '数量', special: 'ご要望', specialHint: '例：玉ねぎ抜き（200文字以内）',
      total: '合計', empty: 'カートは空です', close: '閉じる', remove: '削除', items: '点',
      ordering: '注文しています…', orderFailed: '注文できませんでした', retry: 'もう一度',
      status_PENDING: '受付待ち', status_ACCEPTED: '受付済み', status_READY: '準備完了',
      status_COMPLETED: '完了', status_REJECTED: 'お断り', status_CANCELLED: 'キャンセル',
      pay_PENDING: '未払い', pay_PAID: '支払い済み', pay_REFUND_PENDING: '返金手続き中', pay_REFUNDED: '返金済み',
      orderNumber: '注文番号', eta: '準備完了予定', readyNow: 'まもなくできあがります', reason: '理由',
      payNow: '支払う', cancelOrder: '注文をキャンセル', cancelConfirm: 'この注文をキャンセルしますか？',
      reconnecting: '接続が切れました。再接続しています…', notYours: 'この端末からの注文が見つかりません。',
      badLink: 'QRコードのリンクが正しくありません。テーブルのQRコードをもう一度読み取ってください。',
      sessionEnded: 'テーブルのご利用時間が終了しました。続けて注文するにはQRコードをもう一度読み取ってください。',
      closed: '現在テーブル注文を受け付けていません。', orderMore: '追加注文', payCounter: 'お会計はレジでお願いします', lang: '言語',
      thanks: 'ありがとうございました。', loading: '読み込み中…', network: 'ネットワーク接続を確認してください', tooMany: 'リクエストが多すぎます。しばらくしてからもう一度お試しください',
      serverBusy: 'サーバーが応答していません。しばらくしてからもう一度お試しください', checking: '注文を確認しています…', soldOutRemoved: '売り切れのためカートから削除しました',
      linkRetry: '接続できませんでした。もう一度お試しください', awaitingPayment: '支払い待ち', testMode: 'テストモード', testModeNote: '実際の請求は行われません。',
      approve: '支払いを承認', decline: '支払いを拒否', confirming: '支払いを確認しています…', declined: '支払いが拒否されました',
      providerDown: '支払いの確認が遅れています。注文画面に自動で反映されます。', toOrder: '注文を見る', payAgain: 'もう一度支払う', payFailed: '支払いが完了していません',
      testPaymentNote: 'テスト支払い — 実際には請求されていません', payAtCounterNote: 'お食事の後、レジでお支払いください。', counterPaymentOutage: 'インターネット障害のためオンライン決済が使えません。レジでお支払いください。',
      ourTable: 'このテーブル', ourTableOrders: 'このテーブルの注文', tabTotal: '合計', tabPaid: '支払い済み', tabRemaining: '残り',
      mine: '自分の注文', noOrdersYet: 'まだ注文がありません', backToMenu: 'メニュー · 追加注文',
      call_WATER: '💧 お水', call_CUTLERY: '🥢 取り皿・箸', call_BILL: '🧾 お会計', call_STAFF: '🙋 スタッフを呼ぶ',
      callSent: 'お伝えしました。すぐに伺います', callOpen: 'リクエスト済み', callAcked: '承りました', callsTitle: 'スタッフ呼び出し',
      payTabNote: 'お会計はレジで行います。お会計を押すとスタッフがご案内します。', tableClosed: 'このテーブルのご利用は終了しました。注文するにはQRコードをもう一度読み取ってください。',
      readyDefault: 'ご注文の料理ができあがりました！', payTabTitle: 'スマホで支払う', payAll: '残り全部', payMine: '自分の分だけ',
      paySplit: '割り勘', people: '人', payShare: '1人分を支払う', payOrCounter: 'レジでのお支払いもできます。',
      allergensLabel: 'アレルゲン', originLabel: '原産地',
      allergen_EGG: '卵', allergen_MILK: '乳', allergen_BUCKWHEAT: 'そば', allergen_PEANUT: '落花生', allergen_SOYBEAN: '大豆',
      allergen_WHEAT: '小麦', allergen_MACKEREL: 'さば', allergen_CRAB: 'かに', allergen_SHRIMP: 'えび', allergen_PORK: '豚肉',
      allergen_PEACH: 'もも', allergen_TOMATO: 'トマト', allergen_SULFITES: '亜硫酸塩', allergen_WALNUT: 'くるみ', allergen_CHICKEN: '鶏肉',
      allergen_BEEF: '牛肉', allergen_SQUID: 'いか', allergen_SHELLFISH: '貝類（かき・あわび・ムール貝）', allergen_PINE_NUT: '松の実',
      without: '{a}を除く', filterAllergens: 'アレルゲンで絞り込み', hiddenByFilter: 'アレルゲンの絞り込みで {n} 品を隠しています',
      filterNote: '選んだ成分を含む料理を隠します。お店が記入した情報です。ご不安な場合はスタッフにお尋ねください。',
    },
  };
  const LANGUAGES = { ko: '한국어', en: 'English', zh: '中文', ja: '日本語' };
  // A choice made on this device wins; else the phone's own language (Korean, Chinese and
  // Japanese as such, anything else English).
  function deviceLanguage() {
    for (const tag of navigator.languages || [navigator.language || 'ko']) {
      const primary = String(tag).toLowerCase().split('-')[0];
      if (primary in LANGUAGES) return primary;
    }
    return 'en';
  }
  let lang = localStorage.getItem('os.lang') || deviceLanguage();
  if (!(lang in LANGUAGES)) lang = 'ko';
  document.documentElement.lang = lang;

  function t(key) { return STRINGS[lang][key] ?? (lang !== 'ko' ? STRINGS.en[key] : undefined) ?? STRINGS.ko[key] ?? key; }
  function setLang(next) { lang = next; localStorage.setItem('os.lang', lang); location.reload(); }
  // The language switch: every language at once, each in its own words.
  function toggleLang() {
    const s = sheet(Object.entries(LANGUAGES).map(([code, name]) => el('button', { type: 'button', class: `wide mt ${code === lang ? 'primary' : ''}`,
      'data-lang': code, onclick: () => { s.close(); setLang(code); } }, name)));
  }

  function won(n) { return lang === 'ko' ? `${Number(n).toLocaleString('ko-KR')}원` : `₩${Number(n).toLocaleString('en-US')}`; }
  const languageName = () => LANGUAGES[lang];

  // el('div', {class: 'x', onclick: f}, child, 'text', …)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'class') node.className = v;
      else if (v === true) node.setAttribute(k, '');
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  async function api(path, { method = 'GET', body, token, headers = {} } = {}) {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(path, init); } catch (e) { return { status: 0, body: { error: { message: String(e) } } }; }
    const text = await res.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { raw: text }; }
    return { status: res.status, body: parsed };
  }

  // What to tell a person about a failed call: the common cases in their language, else the
  // server's own words.
  function errorText(res) {
    if (res.status === 0) return t('network');
    if (res.status === 429) return t('tooMany');
    if (res.status >= 500) return t('serverBusy');
    const e = res.body && res.body.error;
    if (!e) return `HTTP ${res.status}`;
    return e.details && e.details.reason ? `${e.details.reason}` : e.message;
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  }

  // A WebSocket that reconnects with `since=<last seq>` so no event is lost across a Wi-Fi blip.
  // `pathFn(seq)` may return a promise (to refresh a token first). A 1008 close (refused for
  // good with this token), 4001 (the token ran out) or 4002 (the session was ended: logged out
  // elsewhere) stops it until `reconnect()`; anything else reconnects with backoff.
  // Back from the background (a phone unlocked), it reconnects at once: the old socket may be
  // dead without knowing it.
  const refusedForGood = (code) => code === 1008 || code === 4001 || code === 4002;
  function live(pathFn, onMessage, onState) {
    let socket, seq = null, attempt = 0, stopped = false, timer, hiddenAt = null, generation = 0;
    async function connect() {
      clearTimeout(timer);
      // Every trigger (timer, online, unlock, reconnect) starts a new generation; a connect
      // overtaken while it waited for its path gives way, so there is one socket at a time.
      const mine = ++generation;
      if (socket) { socket.onclose = null; socket.onmessage = null; socket.close(); socket = null; }
      let path;
      try { path = await pathFn(seq); } catch { if (mine === generation) schedule(); return; }
      if (stopped || mine !== generation) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const current = socket = new WebSocket(`${proto}//${location.host}${path}`);
      current.onopen = () => { attempt = 0; onState && onState(true); };
      current.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        if (typeof msg.seq === 'number') seq = msg.seq;
        onMessage(msg);
      };
      current.onclose = (e) => {
        if (current !== socket) return;
        onState && onState(false, e.code);
        if (!stopped && !refusedForGood(e.code)) schedule();
      };
    }
    function schedule(delay = Math.min(10000, 500 * 2 ** attempt++)) {
      clearTimeout(timer);
      timer = setTimeout(connect, delay);
    }
    const idle = () => !socket || socket.readyState > 1;
    window.addEventListener('online', () => { if (!stopped && idle()) connect(); });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) { hiddenAt = Date.now(); return; }
      const away = hiddenAt === null ? 0 : Date.now() - hiddenAt;
      hiddenAt = null;
      if (!stopped && (away > 20000 || idle())) { attempt = 0; connect(); }
    });
    connect();
    return {
      stop() { stopped = true; clearTimeout(timer); socket && socket.close(); },
      // After a refusal (1008) the caller fixed: try again, with the usual backoff.
      reconnect() { if (!stopped) schedule(); },
    };
  }

  // Toasts that arrive together (a save and a new order) stack instead of covering each other.
  function toast(text, ms = 3000) {
    let stack = document.getElementById('toasts');
    if (!stack) {
      stack = el('div', { id: 'toasts', class: 'toasts' });
      document.body.append(stack);
    }
    const node = el('div', { class: 'toast', role: 'status' }, text);
    stack.append(node);
    setTimeout(() => node.remove(), ms);
  }

  function sheet(content, onClose) {
    const bg = el('div', { class: 'sheet-bg', onclick: (e) => { if (e.target === bg) close(); } });
    const closeButton = el('button', { type: 'button', class: 'sheet-close', 'aria-label': t('close'), onclick: () => close() }, '×');
    const box = el('div', { class: 'sheet', role: 'dialog', 'aria-modal': 'true' }, closeButton, content);
    bg.append(box);
    document.body.append(bg);
    function close() { bg.remove(); onClose && onClose(); }
    return { close, box };
  }

  return { t, lang: () => lang, languageName, toggleLang, won, el, api, errorText, uuid, live, toast, sheet, refusedForGood };
})();
